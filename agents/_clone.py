"""The creator's AI clone: built from their content, answering fans in their voice.

Building is a series of steps a graph can run apart (and in parallel where they are
independent): `check_content`, `extract_personality`, `clone_voice`, `clone_appearance`,
then `record_clone`. `build_clone` runs them in order. The clone is `draft` until it has
both a voice and an appearance; `attach_voice` and `attach_appearance` add them later.

`Clone` answers fans: grounded in passages retrieved from its creator's content only
(cited in the reply), remembering each fan's conversation (the `clone_interaction`
events), with everything retrieved fenced as data and every answer checked on the way out
(`agents._guard`). It has no tools.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, ConfigDict, Field

from agents._guard import Fence, Leaks, SafeStream, defuse, safe_links
from agents._model import Model, Stream
from agents._usage import Usage
from agents.errors import (
    AccessDeniedError,
    AgentsError,
    CloneNotFoundError,
    InsufficientContentError,
    MessageRejectedError,
    OutputParseError,
    PersonalityExtractionError,
)
from agents.providers import Appearance, Voice, retried
from knowledge import Hit, Knowledge
from ontology import Entity, Event, Store, every
from ontology.errors import DuplicateTagError

_IDS = uuid.UUID("5f2b8e61-0c4d-4a9e-b7f3-2d6a1c8e9b05")
KINDS = {"video": "video", "audio": "podcast"}  # requirement kind -> content entity type
WITHHELD = "I can't share that. Ask me about my cooking, my recipes or my work instead."
MAX_PERSONA_CHARS = 1_500


class Requirements(BaseModel):
    """How much content a clone needs (the seeds: 3 videos and 5 audio samples)."""

    model_config = ConfigDict(frozen=True)

    video: int = Field(default=3, ge=0)
    audio: int = Field(default=5, ge=0)


class Personality(BaseModel):
    """How the creator comes across, extracted from their content."""

    system_prompt: str = Field(
        description="instructions for speaking as the creator, 2-4 sentences"
    )
    traits: list[str] = Field(min_length=1, description="3-6 adjectives")
    style: str = Field(description="how they communicate, one sentence")
    values: list[str] = Field(min_length=1, description="what they care about")


@dataclass(frozen=True)
class Content:
    """The creator's content, by kind, as the build uses it."""

    creator: Entity
    videos: tuple[Entity, ...]
    audio: tuple[Entity, ...]
    others: tuple[Entity, ...]

    @property
    def all(self) -> tuple[Entity, ...]:
        return self.videos + self.audio + self.others


def clone_entity_id(creator_id: str) -> str:
    """The id of a creator's clone (a creator has one)."""
    return str(uuid.uuid5(_IDS, f"clone\0{creator_id}"))


def check_content(
    store: Store, creator_id: str, requirements: Requirements | None = None
) -> Content:
    """The creator's content, if there is enough for a clone.

    Raises:
        InsufficientContentError: saying how many more videos and audio samples are needed.
    """
    requirements = requirements or Requirements()
    creator = store.entities.get(creator_id)
    owned = list(every(store.entities.query, owner=creator_id, limit=500))
    content_types = set(store.catalogue.names("entity", "content"))
    videos = tuple(e for e in owned if e.type == KINDS["video"])
    audio = tuple(e for e in owned if e.type == KINDS["audio"])
    others = tuple(e for e in owned if e.type in content_types and e not in videos + audio)
    have = {"video": len(videos), "audio": len(audio)}
    need = {"video": requirements.video, "audio": requirements.audio}
    missing = {k: need[k] - have[k] for k in need if have[k] < need[k]}
    if missing:
        raise InsufficientContentError(creator.name, have, missing)
    return Content(creator, videos, audio, others)


def extract_personality(
    model: Model, knowledge: Knowledge, content: Content, *, samples: int = 8
) -> Personality:
    """The creator's personality, as structured output from samples of their content.

    Raises:
        PersonalityExtractionError: the model never produced a usable personality.
    """
    creator = content.creator
    openings = knowledge.retriever(creator.id).openings(limit=samples)
    fence = Fence()
    passages = "\n".join(fence.wrap(c.text[:500], f"{c.kind}: {c.title}") for c in openings)
    about = {k: creator.properties[k] for k in ("niche", "bio") if k in creator.properties}
    messages = [
        SystemMessage(
            "You describe how a creator talks so that an assistant can speak as them. "
            f"{fence.rules()}"
        ),
        HumanMessage(
            f"Creator: {creator.name}. {defuse(str(about))}\n\nSamples of their content:\n"
            f"{passages}\n\nDescribe their personality."
        ),
    ]
    try:
        reply = model.invoke(
            messages, output=Personality, creator_id=creator.id, temperature=0.3, max_tokens=400
        )
    except OutputParseError as e:
        raise PersonalityExtractionError(
            f"the model gave no usable personality for {creator.name}: {e}"
        ) from e
    assert reply.parsed is not None
    return reply.parsed


def clone_voice(voice: Voice, content: Content, *, attempts: int = 3) -> tuple[str, int]:
    """A voice cloned from up to 10 audio samples (retried with the same idempotency key,
    so a lost response is not a second voice). Returns (voice id, samples used)."""
    samples = [e.properties.get("source", e.name) for e in content.audio[:10]]
    key = f"voice:{clone_entity_id(content.creator.id)}:{len(samples)}"
    voice_id = retried(attempts)(
        voice.clone_voice, content.creator.name, samples, idempotency_key=key
    )
    return voice_id, len(samples)


def clone_appearance(
    appearance: Appearance, content: Content, *, attempts: int = 3
) -> tuple[str, int]:
    """An avatar from frames of up to 5 videos. Returns (appearance id, images used)."""
    images = [f"{e.properties.get('source', e.name)}#frame=1" for e in content.videos[:5]]
    key = f"appearance:{clone_entity_id(content.creator.id)}:{len(images)}"
    avatar = retried(attempts)(
        appearance.clone_appearance, content.creator.name, images, idempotency_key=key
    )
    return avatar, len(images)


@dataclass(frozen=True)
class Media:
    """A cloned voice or appearance: which provider, its id there, how many samples."""

    provider: str
    id: str
    samples: int


def record_clone(
    store: Store,
    content: Content,
    personality: Personality,
    *,
    knowledge_size: int,
    voice: Media | None = None,
    appearance: Media | None = None,
    temperature: float = 0.7,
    key: str | None = None,
) -> Entity:
    """Create (or, built again, update) the creator's `ai_clone` with its connections and
    events. It is `active` once it has a voice and an appearance, `draft` until then.

    `key` (a build's id) makes recording it again, as a resumed build does, repeat nothing."""
    creator = content.creator
    clone_id = clone_entity_id(creator.id)
    now = datetime.now(UTC)
    properties: dict[str, Any] = {
        "systemPrompt": personality.system_prompt,
        "traits": personality.traits,
        "style": personality.style,
        "values": personality.values,
        "temperature": temperature,
        "knowledgeBaseSize": knowledge_size,
        "lastTrainingDate": now.isoformat(),
    }
    existing = store.entities.find(clone_id, include_deleted=True)
    if key and existing and store.events.find(f"clone_trained:{key}"):
        return existing  # this build was recorded already (its node ran again)
    with store.transaction() as tx:
        if existing is None:
            clone = tx.entities.create(
                "ai_clone",
                f"{creator.name}'s clone"[:128],
                {**properties, "totalInteractions": 0},
                status="draft",
                id=clone_id,
            )
            tx.connections.connect(creator.id, clone.id, "owns")
            tx.connections.connect(
                clone.id,
                creator.id,
                "clone_of",
                {"cloneVersion": 1, "trainingDataSize": len(content.all)},
            )
            tx.events.append(
                "clone_created",
                creator.id,
                clone.id,
                {
                    "contentCount": len(content.all),
                    "voiceId": voice.id if voice else None,
                    "personality": personality.traits,
                },
                idempotency_key=f"clone_created:{clone.id}",
            )
        else:
            if existing.deleted_at is not None:
                tx.entities.restore(clone_id)
            clone = tx.entities.patch(clone_id, properties)
            tx.events.append(
                "clone_updated",
                creator.id,
                clone.id,
                {"contentCount": len(content.all)},
                idempotency_key=f"clone_updated:{key}" if key else None,
            )
        trained = {c.to_id for c in tx.connections.query(clone_id, type="trained_on").items}
        for source in content.all:
            if source.id not in trained:
                tx.connections.connect(
                    clone_id, source.id, "trained_on", {"trainingDate": now.isoformat()}
                )
        tx.events.append(
            "clone_trained",
            creator.id,
            clone_id,
            {"aiCloneId": clone_id, "totalKnowledgeSize": knowledge_size},
            idempotency_key=f"clone_trained:{key}" if key else None,
        )
    for tag in [*(t.name for t in store.tags.of(creator.id)), "ai_clone"]:
        with contextlib.suppress(DuplicateTagError):
            store.tags.add(clone_id, tag)
    if voice is not None:
        attach_voice(store, clone_id, voice)
    if appearance is not None:
        attach_appearance(store, clone_id, appearance)
    return store.entities.get(clone_id)


def attach_voice(store: Store, clone_id: str, voice: Media) -> Entity:
    """Give the clone its voice (`voice_cloned`); it becomes active if it has both."""
    return _attach(store, clone_id, "voice", voice)


def attach_appearance(store: Store, clone_id: str, appearance: Media) -> Entity:
    """Give the clone its appearance (`appearance_cloned`); active if it has both."""
    return _attach(store, clone_id, "appearance", appearance)


def _attach(store: Store, clone_id: str, what: str, media: Media) -> Entity:
    with store.transaction() as tx:
        clone = tx.entities.patch(
            clone_id, {f"{what}Id": media.id, f"{what}Provider": media.provider}
        )
        ready = all(clone.properties.get(k) for k in ("voiceId", "appearanceId"))
        if ready and clone.status == "draft":
            clone = tx.entities.patch(clone_id, status="active")
        creator = tx.connections.query(clone_id, type="clone_of").items[0].to_id
        tx.events.append(
            f"{what}_cloned",
            creator,
            clone_id,
            {
                "aiCloneId": clone_id,
                f"{what}Provider": media.provider,
                f"{what}Id": media.id,
                "sampleCount" if what == "voice" else "imageCount": media.samples,
            },
            idempotency_key=f"{what}_cloned:{clone_id}:{media.id}",
        )
    if ready:
        with contextlib.suppress(DuplicateTagError):
            store.tags.add(clone_id, "active", category="status")
    return clone


@dataclass(frozen=True)
class CloneBuild:
    """A built clone, and why it is still a draft if it is."""

    clone: Entity
    personality: Personality
    voice_error: str | None = None
    appearance_error: str | None = None


def build_clone(
    store: Store,
    knowledge: Knowledge,
    model: Model,
    creator_id: str,
    *,
    voice: Voice,
    appearance: Appearance,
    requirements: Requirements | None = None,
) -> CloneBuild:
    """Every build step in order. A voice or appearance provider that keeps failing leaves
    the clone a draft (the error is returned); the rest of the build is kept."""
    content = check_content(store, creator_id, requirements)
    personality = extract_personality(model, knowledge, content)
    voiced, voice_error = _attempt(voice.name, lambda: clone_voice(voice, content))
    avatar, appearance_error = _attempt(
        appearance.name, lambda: clone_appearance(appearance, content)
    )
    clone = record_clone(
        store,
        content,
        personality,
        knowledge_size=knowledge.count(creator_id),
        voice=voiced,
        appearance=avatar,
    )
    return CloneBuild(clone, personality, voice_error, appearance_error)


def _attempt(provider: str, step: Callable[[], tuple[str, int]]) -> tuple[Media | None, str | None]:
    """A provider step's result, or why it failed (any error: providers raise their own)."""
    try:
        media_id, samples = step()
    except Exception as e:
        return None, f"{provider}: {type(e).__name__}: {e}"
    return Media(provider, media_id, samples), None


class Source(BaseModel):
    """A passage the clone was given, as cited in its reply."""

    model_config = ConfigDict(frozen=True)

    n: int
    chunk_id: str
    entity_id: str
    title: str
    kind: str
    score: float
    start: float | None = None
    end: float | None = None

    @classmethod
    def of(cls, n: int, hit: Hit) -> Source:
        c = hit.chunk
        return cls(
            n=n,
            chunk_id=c.id,
            entity_id=c.entity_id,
            title=c.title,
            kind=c.kind,
            score=hit.score,
            start=c.start,
            end=c.end,
        )


class CloneReply(BaseModel):
    """The clone's answer to a fan: text, the passages it was given, usage, its event."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    text: str
    sources: list[Source]
    usage: Usage | None
    event: Event
    withheld: bool = False


class Clone:
    """A creator's clone, answering fans. Made by `Clone.of(...)`.

    Args:
        allowed_hosts: hosts links and images in answers may point at; by default those
            of URLs in the creator's profile.
        token_gate: a fan must hold the creator's tokens (`holds_tokens`, balance > 0).
        k: passages retrieved per message; history: earlier turns remembered.
    """

    DEFAULT_K = 4

    def __init__(
        self,
        store: Store,
        knowledge: Knowledge,
        model: Model,
        clone: Entity,
        creator: Entity,
        *,
        allowed_hosts: Sequence[str] | None = None,
        token_gate: bool = False,
        k: int = DEFAULT_K,
        history: int = 6,
        max_message_chars: int = 4_000,
        max_tokens: int = 300,
    ) -> None:
        self.store, self.model, self.entity, self.creator = store, model, clone, creator
        self.retriever = knowledge.retriever(creator.id)  # its only tool: read-only, bound
        self.allowed_hosts = tuple(
            allowed_hosts if allowed_hosts is not None else _hosts(creator.properties)
        )
        self.token_gate, self.k, self.history = token_gate, k, history
        self.max_message_chars, self.max_tokens = max_message_chars, max_tokens

    @classmethod
    def of(
        cls, store: Store, knowledge: Knowledge, model: Model, creator_id: str, **options: Any
    ) -> Clone:
        """The clone of `creator_id`.

        Raises:
            CloneNotFoundError: the creator has none; build it first.
        """
        creator = store.entities.get(creator_id)
        clone = store.entities.find(clone_entity_id(creator_id))
        if clone is None:
            raise CloneNotFoundError(
                f"{creator.name} has no clone yet: build it first (`one clone build`)"
            )
        return cls(store, knowledge, model, clone, creator, **options)

    def reply(self, fan_id: str, message: str, *, key: str | None = None) -> CloneReply:
        """Answer a fan's message; `key` (a request id) makes a retried request harmless."""
        turn = self._turn(fan_id, message, key)
        if isinstance(turn, CloneReply):
            return turn
        answer = self.model.invoke(
            turn.messages,
            creator_id=self.creator.id,
            max_tokens=self.max_tokens,
            temperature=self._temperature(),
        )  # no tools are offered; tool calls in the answer, if any, are ignored
        withheld = turn.leaks.found(answer.text)
        text = WITHHELD if withheld else safe_links(answer.text, self.allowed_hosts).strip()
        return self._record(turn, text, answer.usage, withheld)

    def _record(self, turn: Turn, text: str, usage: Usage | None, withheld: bool) -> CloneReply:
        return self.record(
            turn.fan.id, turn.message, turn.sources, text, usage, withheld, key=turn.key
        )

    def stream(self, fan_id: str, message: str, *, key: str | None = None) -> CloneStream:
        """Answer as a stream of text; its `reply` is set once the stream is read."""
        turn = self._turn(fan_id, message, key)
        if isinstance(turn, CloneReply):
            return CloneStream(self, None, turn, None)
        return self.answer(turn)

    def _temperature(self) -> float:
        return float(self.entity.properties.get("temperature", 0.7))

    def _turn(self, fan_id: str, message: str, key: str | None) -> Turn | CloneReply:
        fan = self.admit(fan_id, message)
        if key is not None and (done := self.store.events.find(_key(self.entity.id, key))):
            return self._replayed(done)
        hits = self.retriever.search(message, k=self.k)
        passages = [(Source.of(n, h), h.chunk.text) for n, h in enumerate(hits, 1)]
        history = [
            (str(e.metadata["message"]), str(e.metadata["response"])) for e in self._memory(fan.id)
        ]
        return self.prepare(fan, message, passages, history, key=key)

    def admit(self, fan_id: str, message: str) -> Entity:
        """The fan, if their message may be answered (a step of the chat graph).

        Raises:
            MessageRejectedError: the message is empty or too long.
            NotFoundError: no such fan.
            AccessDeniedError: the token gate is on and the fan holds no tokens.
        """
        if not message.strip():
            raise MessageRejectedError("the message is empty: ask the clone something")
        if len(message) > self.max_message_chars:
            raise MessageRejectedError(
                f"the message is {len(message)} characters; the limit is "
                f"{self.max_message_chars}. Shorten it"
            )
        fan = self.store.entities.get(fan_id)
        if self.token_gate and not holds_tokens(self.store, fan.id, self.creator.id):
            raise AccessDeniedError(
                f"{fan.name} holds none of {self.creator.name}'s tokens: purchase tokens to "
                f"chat with {self.creator.name}'s AI clone"
            )
        return fan

    def prepare(
        self,
        fan: Entity,
        message: str,
        passages: Sequence[tuple[Source, str]],
        history: Sequence[tuple[str, str]],
        *,
        key: str | None = None,
    ) -> Turn:
        """The messages for one answer: instructions, earlier turns, then the passages
        (fenced, numbered for citing) and the question."""
        fence = Fence()
        system = self._system(fence)
        messages: list[BaseMessage] = [SystemMessage(system)]
        for asked, answered in history[-self.history :] if self.history > 0 else []:
            messages += [  # defused again: a template token must not come back to life
                HumanMessage(defuse(asked)),
                AIMessage(defuse(answered)),
            ]
        fenced = "\n".join(fence.wrap(text, f"[{s.n}] {s.title}") for s, text in passages)
        messages.append(
            HumanMessage(
                f"Passages from your content:\n{fenced or '(none found)'}\n\n"
                f"My question: {defuse(message)}"
            )
        )
        sources = [s for s, _ in passages]
        return Turn(fan, message, key, messages, sources, Leaks(system, fence))

    def answer(self, turn: Turn, *, record: bool = True) -> CloneStream:
        """The model's answer to a prepared turn, streamed through the guard; reading it
        to the end records the turn (unless `record` is False: then `record()` it)."""
        stream = self.model.stream(
            turn.messages,
            creator_id=self.creator.id,
            max_tokens=self.max_tokens,
            temperature=self._temperature(),
        )
        return CloneStream(self, turn, None, stream, record=record)

    def _system(self, fence: Fence) -> str:
        name = self.creator.name
        persona = defuse(str(self.entity.properties.get("systemPrompt", "")))[:MAX_PERSONA_CHARS]
        traits = ", ".join(str(t) for t in self.entity.properties.get("traits", []))
        hosts = ", ".join(self.allowed_hosts) or "none"
        return (
            f"You are the AI clone of {name}, talking with one of {name}'s fans. {persona}\n"
            f"Traits: {traits}.\n"
            f"Answer as {name}, in the first person, briefly, using the passages from "
            f"{name}'s content given with each question, and cite them as [1], [2]. If they "
            "do not cover the question, say so rather than invent an answer. "
            f"Only link to these sites: {hosts}.\n{fence.rules()}"
        )

    def _memory(self, fan_id: str) -> list[Event]:
        if self.history <= 0:
            return []
        page = self.store.events.timeline(
            actor_id=fan_id,
            target_id=self.entity.id,
            type="clone_interaction",
            newest_first=True,
            limit=self.history,
        )
        return list(reversed(page.items))

    def record(
        self,
        fan_id: str,
        message: str,
        sources: Sequence[Source],
        text: str,
        usage: Usage | None,
        withheld: bool,
        *,
        key: str | None = None,
    ) -> CloneReply:
        """Write a turn (`clone_interaction`, once per `key`) and count it."""
        if key is not None and (done := self.store.events.find(_key(self.entity.id, key))):
            return self._replayed(done)
        cited = sorted({s.chunk_id for s in sources if f"[{s.n}]" in text})
        metadata = {
            "message": message,
            "response": text,
            "tokensUsed": (usage.input_tokens + usage.output_tokens) if usage else 0,
            "sources": [s.chunk_id for s in sources],
            "cited": cited,
            "withheld": withheld,
        }
        with self.store.transaction() as tx:
            event = tx.events.append(
                "clone_interaction",
                fan_id,
                self.entity.id,
                metadata,
                idempotency_key=_key(self.entity.id, key) if key else None,
            )
            tx.entities.increment(self.entity.id, "totalInteractions")
        return CloneReply(
            text=text, sources=list(sources), usage=usage, event=event, withheld=withheld
        )

    def _replayed(self, event: Event) -> CloneReply:
        return _reply_of(event)


def recorded_reply(store: Store, creator_id: str, key: str) -> CloneReply | None:
    """The clone's answer recorded for the request `key`, if there is one (its sources
    by chunk id only)."""
    event = store.events.find(_key(clone_entity_id(creator_id), key))
    return None if event is None else _reply_of(event)


def _reply_of(event: Event) -> CloneReply:
    ids = [str(i) for i in event.metadata.get("sources", [])]
    sources = [
        Source(n=n, chunk_id=i, entity_id="", title="", kind="", score=0.0)
        for n, i in enumerate(ids, 1)
    ]
    return CloneReply(
        text=str(event.metadata["response"]),
        sources=sources,
        usage=None,
        event=event,
        withheld=bool(event.metadata.get("withheld")),
    )


@dataclass(frozen=True)
class Turn:
    fan: Entity
    message: str
    key: str | None
    messages: list[BaseMessage]
    sources: list[Source]
    leaks: Leaks


class CloneStream:
    """The clone's answer as it is generated, shown only once it is safe (see `SafeStream`).
    Iterate it once; then `reply` holds the recorded answer."""

    def __init__(
        self,
        clone: Clone,
        turn: Turn | None,
        reply: CloneReply | None,
        stream: Stream | None,
        *,
        record: bool = True,
    ) -> None:
        self._clone, self._turn, self._stream, self._record = clone, turn, stream, record
        self.reply = reply
        self.answered: tuple[str, Usage | None, bool] | None = None  # text, usage, withheld

    def __iter__(self) -> Iterator[str]:
        if self._turn is None or self._stream is None:  # a replayed request
            assert self.reply is not None
            yield self.reply.text
            return
        if self.reply is not None or self.answered is not None:
            raise AgentsError("a CloneStream can be read once")
        guard = SafeStream(self._clone.allowed_hosts, self._turn.leaks)
        shown: list[str] = []
        for piece in self._stream:
            for out in guard.feed(piece):
                shown.append(out)
                yield out
            if guard.withheld:
                break
        if guard.withheld:
            notice = ("\n\n" if shown else "") + WITHHELD
            shown.append(notice)
            yield notice
        else:
            for out in guard.close():
                shown.append(out)
                yield out
        usage = self._stream.reply.usage if self._stream.reply else None
        text = "".join(shown).strip()
        self.answered = (text, usage, guard.withheld)
        if self._record:
            self.reply = self._clone._record(self._turn, text, usage, guard.withheld)


def holds_tokens(store: Store, fan_id: str, creator_id: str) -> bool:
    """Does the fan hold a positive balance of a token the creator owns?"""
    for held in store.connections.query(fan_id, type="holds_tokens").items:
        if float(held.metadata.get("balance", 0)) <= 0:
            continue
        if store.connections.query(creator_id, held.to_id, "owns").items:
            return True
    return False


def _key(clone_id: str, key: str) -> str:
    return f"clone_interaction:{clone_id}:{key}"


def _hosts(properties: dict[str, Any]) -> list[str]:
    from urllib.parse import urlsplit

    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            host = urlsplit(value).hostname
            if host and host not in found:
                found.append(host)
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(properties)
    return found
