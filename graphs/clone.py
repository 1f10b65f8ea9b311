"""The creator's AI clone as two graphs: building it, and chatting with it.

**Clone build** (`clone_build`): the content check, then voice, appearance and
personality in parallel, then the clone entity with its connections and events. A voice
or appearance provider that keeps failing leaves the clone a draft and the error in the
state; the rest of the build is kept.

**Clone chat** (`clone_chat`): retrieve (from the clone's own creator's content only) →
respond → record. Each turn is a run on the thread of its (clone, fan) pair, so the
conversation (its latest turns) is in that thread's checkpointed state and survives
restarts. A turn is a short run with `durability="exit"`: one checkpoint, and its node
events written with its ending; a turn a crash stopped is answered again from the start.
`respond` streams the answer through the clone's guard (`agents._guard.SafeStream`): what
reaches a reader of `chat_stream` has already been checked, never the model's raw tokens.
"""

from __future__ import annotations

import functools
import operator
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

from agents import Clone, Usage
from agents._clone import (
    Media,
    Personality,
    Source,
    attach_appearance,
    attach_voice,
    check_content,
    clone_appearance,
    clone_entity_id,
    clone_voice,
    extract_personality,
    record_clone,
    recorded_reply,
)
from agents.errors import ConfigurationError
from graphs._deps import Deps
from graphs._gate import STEP_OUT_AFTER
from graphs._nodes import Call, Update, recorded
from graphs._runs import Run, Runs, RunStream
from knowledge import Knowledge
from ontology.errors import ConstraintViolationError

BUILD = "clone_build"
CHAT = "clone_chat"
_NAMESPACE = uuid.UUID("0b8c1f5e-51a3-4e0e-a7c4-3f4d1a2b9c77")


# -- building -------------------------------------------------------------------------


class BuildState(TypedDict, total=False):
    creator_id: str
    personality: dict[str, Any]
    voice: dict[str, Any] | None
    appearance: dict[str, Any] | None
    errors: Annotated[list[str], operator.add]
    clone_id: str
    status: str


def _knowledge(call: Call) -> Knowledge:
    if call.deps.knowledge is None:
        raise ConfigurationError("the clone graphs need the creator's knowledge in their Deps")
    return call.deps.knowledge


def _check(state: Mapping[str, Any], call: Call) -> Update:
    check_content(call.deps.store, str(state["creator_id"]))  # says what to ingest if short
    return {}


def _personality(state: Mapping[str, Any], call: Call) -> Update:
    content = check_content(call.deps.store, str(state["creator_id"]))
    personality = extract_personality(call.deps.model, _knowledge(call), content)
    return {"personality": personality.model_dump()}


def _media(what: str) -> Any:
    def step(state: Mapping[str, Any], call: Call) -> Update:
        content = check_content(call.deps.store, str(state["creator_id"]))
        providers = call.deps.providers
        provider = providers.voice if what == "voice" else providers.appearance
        try:
            if what == "voice":
                media_id, samples = clone_voice(providers.voice, content)
            else:
                media_id, samples = clone_appearance(providers.appearance, content)
        except Exception as error:  # providers raise their own; the build goes on as draft
            call.status, call.error = "failed", f"{type(error).__name__}: {error}"
            return {what: None, "errors": [f"{what}: {provider.name}: {call.error}"]}
        return {what: {"provider": provider.name, "id": media_id, "samples": samples}}

    return step


def _record_clone(state: Mapping[str, Any], call: Call) -> Update:
    store, creator_id = call.deps.store, str(state["creator_id"])
    content = check_content(store, creator_id)
    voice = Media(**state["voice"]) if state.get("voice") else None
    appearance = Media(**state["appearance"]) if state.get("appearance") else None
    clone = record_clone(
        store,
        content,
        Personality.model_validate(state["personality"]),
        knowledge_size=_knowledge(call).count(creator_id),
        key=call.key,
    )
    if voice is not None:
        clone = attach_voice(store, clone.id, voice)
    if appearance is not None:
        clone = attach_appearance(store, clone.id, appearance)
    return {"clone_id": clone.id, "status": clone.status}


def build_graph() -> StateGraph[Any, Deps, Any, Any]:
    graph: StateGraph[Any, Deps, Any, Any] = StateGraph(BuildState, context_schema=Deps)
    graph.add_node("check", recorded(BUILD, "check", _check))
    graph.add_node("personality", recorded(BUILD, "personality", _personality))
    graph.add_node("voice", recorded(BUILD, "voice", _media("voice")))
    graph.add_node("appearance", recorded(BUILD, "appearance", _media("appearance")))
    graph.add_node("record", recorded(BUILD, "record", _record_clone))
    graph.add_edge(START, "check")
    for step in ("personality", "voice", "appearance"):
        graph.add_edge("check", step)
    graph.add_edge(["personality", "voice", "appearance"], "record")
    graph.add_edge("record", END)
    return graph


# -- chatting -------------------------------------------------------------------------


class ChatState(TypedDict, total=False):
    creator_id: str
    fan_id: str
    message: str
    key: str | None
    passages: list[dict[str, Any]]  # a Source's fields, and the passage's text
    answer: dict[str, Any]  # text, withheld, usage
    history: Annotated[list[list[str]], _recent]  # [message, response], the latest turns
    reply_event: int


HISTORY_KEPT = 20  # turns the thread keeps; a clone's `history` option may use up to this


def _recent(kept: list[list[str]], new: list[list[str]]) -> list[list[str]]:
    return (kept + new)[-HISTORY_KEPT:]


def _clone(state: Mapping[str, Any], call: Call, options: Mapping[str, Any]) -> Clone:
    """The creator's clone, read once per turn (the turn's steps share it)."""
    if "clone" not in call.cache:
        deps, creator = call.deps, str(state["creator_id"])
        call.cache["clone"] = Clone.of(deps.store, _knowledge(call), deps.model, creator, **options)
    clone: Clone = call.cache["clone"]
    return clone


def _retrieve(state: Mapping[str, Any], call: Call, options: Mapping[str, Any]) -> Update:
    clone = _clone(state, call, options)
    message = str(state["message"])
    call.cache["fan"] = clone.admit(str(state["fan_id"]), message)
    hits = clone.retriever.search(message, k=clone.k)
    passages = [
        {**Source.of(n, hit).model_dump(), "text": hit.chunk.text} for n, hit in enumerate(hits, 1)
    ]
    return {"passages": passages}


def _respond(state: Mapping[str, Any], call: Call, options: Mapping[str, Any]) -> Update:
    clone = _clone(state, call, options)
    fan = call.cache.get("fan") or call.deps.store.entities.get(str(state["fan_id"]))
    turn = clone.prepare(
        fan,
        str(state["message"]),
        _passages(state),
        [(str(m), str(r)) for m, r in state.get("history", [])],
    )
    stream = clone.answer(turn, record=False)
    write = get_stream_writer()
    with call.deps.gate.outside(STEP_OUT_AFTER):  # others go through while the model answers
        for piece in stream:
            write(piece)  # already through the guard
    assert stream.answered is not None
    text, usage, withheld = stream.answered
    if usage is not None:
        call.usage.append(usage)
    return {
        "answer": {
            "text": text,
            "withheld": withheld,
            "usage": usage.model_dump(mode="json") if usage else None,
        }
    }


def _record_turn(state: Mapping[str, Any], call: Call, options: Mapping[str, Any]) -> Update:
    clone = _clone(state, call, options)
    answer = state["answer"]
    usage = Usage.model_validate(answer["usage"]) if answer.get("usage") else None
    reply = clone.record(
        str(state["fan_id"]),
        str(state["message"]),
        [source for source, _ in _passages(state)],
        str(answer["text"]),
        usage,
        bool(answer["withheld"]),
        key=_answer_key(state.get("key"), call.run_id or call.key),
    )
    return {
        "history": [[str(state["message"]), str(answer["text"])]],
        "reply_event": reply.event.seq,
    }


def _answer_key(request_key: Any, run_id: str) -> str:
    """What a turn's answer is recorded under, once: the request's key, else the turn's
    run (a turn a crash stopped runs again from its input, with new task ids but the same
    run id)."""
    return str(request_key or run_id)


def _passages(state: Mapping[str, Any]) -> list[tuple[Source, str]]:
    return [
        (Source.model_validate({k: v for k, v in p.items() if k != "text"}), str(p["text"]))
        for p in state.get("passages", [])
    ]


def chat_graph(**options: Any) -> StateGraph[Any, Deps, Any, Any]:
    """The chat graph; `options` are the `Clone`'s (`token_gate=True`, `allowed_hosts`,
    `k`, `history` (at most `HISTORY_KEPT`), ...), the same for every turn."""
    if int(options.get("history", 0)) > HISTORY_KEPT:
        raise ConfigurationError(
            f"a chat remembers at most {HISTORY_KEPT} turns; set history to that or fewer"
        )
    graph: StateGraph[Any, Deps, Any, Any] = StateGraph(ChatState, context_schema=Deps)
    for name, step in (("retrieve", _retrieve), ("respond", _respond), ("record", _record_turn)):
        graph.add_node(name, recorded(CHAT, name, functools.partial(step, options=options)))
    graph.add_edge(START, "retrieve")
    graph.add_edge("retrieve", "respond")
    graph.add_edge("respond", "record")
    graph.add_edge("record", END)
    return graph


@dataclass(frozen=True)
class ChatTurn:
    """One turn of a chat run: the answer, its sources, and the run that made it."""

    text: str
    withheld: bool
    sources: list[Source]
    run: Run


def thread_of(creator_id: str, fan_id: str) -> str:
    """The thread of a (clone, fan) pair: their whole conversation."""
    return str(uuid.uuid5(_NAMESPACE, f"{clone_entity_id(creator_id)}\0{fan_id}"))


def chat(
    runs: Runs, creator_id: str, fan_id: str, message: str, *, key: str | None = None
) -> ChatTurn:
    """One turn of the fan's conversation with the creator's clone, as a run.

    `key` (a request id) makes a retried request return the same turn (see `_finished`).
    The turn goes through the process's gate (`graphs._gate`), stepping out while its
    model answers.

    Raises:
        ConstraintViolationError: a request with this key is being answered right now.
    """
    input = {"creator_id": creator_id, "fan_id": fan_id, "message": message, "key": key}
    with runs.deps.gate.through():
        run = runs.start(CHAT, input, durability="exit", **_ids(creator_id, fan_id, key))
        return _turn(_finished(runs, run), runs)


def chat_stream(
    runs: Runs, creator_id: str, fan_id: str, message: str, *, key: str | None = None
) -> ChatStream:
    """One turn, as the checked text streams out; the turn is recorded at its end."""
    input = {"creator_id": creator_id, "fan_id": fan_id, "message": message, "key": key}
    stream = runs.stream(CHAT, input, durability="exit", **_ids(creator_id, fan_id, key))
    return ChatStream(runs, stream)


class ChatStream:
    """A turn's text as it streams (read it once, to the end); then `turn`, the whole turn
    with its sources. A replayed request (same `key`) streams the recorded answer."""

    def __init__(self, runs: Runs, stream: RunStream) -> None:
        self._runs, self._stream = runs, stream
        self.turn: ChatTurn | None = None

    def __iter__(self) -> Iterator[str]:
        streamed = False
        for piece in self._stream:
            streamed = True
            yield str(piece)
        assert self._stream.run is not None
        if streamed:
            self.turn = _turn(self._stream.run, self._runs)
            return
        # Nothing ran: the turn was answered before (or is being answered elsewhere).
        self.turn = _turn(_finished(self._runs, self._stream.run), self._runs)
        if self.turn.text:
            yield self.turn.text


def _finished(runs: Runs, run: Run) -> Run:
    """A turn's run, answered: a replayed request's turn that failed is tried again, and
    one a crashed process left is finished here; one being answered elsewhere right now
    is a conflict (the client retries in a moment)."""
    if run.status == "failed":
        run = runs.resume(run.id)
    elif run.status == "accepted":
        run = runs.drive(run.id)  # returned as it stands if another process drives it
    if run.status != "completed":
        raise ConstraintViolationError(
            f"the request with this key is still being answered (run {run.id}); "
            "send it again in a moment"
        )
    return run


def _ids(creator_id: str, fan_id: str, key: str | None) -> dict[str, Any]:
    run_id = str(uuid.uuid5(_NAMESPACE, f"chat\0{creator_id}\0{fan_id}\0{key}")) if key else None
    return {"run_id": run_id, "thread_id": thread_of(creator_id, fan_id)}


def _turn(run: Run, runs: Runs | None = None) -> ChatTurn:
    """The run's own turn (its values are its own end's, however far the thread moved on;
    if `Runs.prune` took that checkpoint, the answer as recorded in the ontology)."""
    answer = run.values.get("answer")
    if answer is None and runs is not None:
        key = _answer_key(run.events[0].metadata.get("input", {}).get("key"), run.id)
        reply = recorded_reply(runs.deps.store, run.creator_id, key)
        if reply is not None:
            return ChatTurn(reply.text, reply.withheld, reply.sources, run)
    answer = answer or {}
    return ChatTurn(
        text=str(answer.get("text", "")),
        withheld=bool(answer.get("withheld")),
        sources=[s for s, _ in _passages(run.values)],
        run=run,
    )
