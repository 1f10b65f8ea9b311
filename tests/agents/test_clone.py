"""The AI clone: built from enough content, answering fans from its creator's content only."""

from __future__ import annotations

import pytest
from langchain_core.messages import BaseMessage

from agents import (
    Clone,
    Media,
    Model,
    Personality,
    Requirements,
    ScriptedChatModel,
    attach_appearance,
    attach_voice,
    build_clone,
    check_content,
    clone_entity_id,
    fan,
)
from agents.errors import (
    AccessDeniedError,
    CloneNotFoundError,
    InsufficientContentError,
    MessageRejectedError,
    PersonalityExtractionError,
)
from agents.providers import SimulatedAppearance, SimulatedVoice
from knowledge import Segment, Source
from ontology.errors import NotFoundError
from tests.agents.conftest import World

PERSONALITY = Personality(
    system_prompt="Speak as Maya: warm, precise, a little wry; weigh things, taste everything.",
    traits=["warm", "precise", "wry"],
    style="Short sentences, exact quantities, a joke about Pickle now and then.",
    values=["cooking on a budget", "confidence in the kitchen"],
)


def scripted(*replies: object) -> Model:
    return Model(ScriptedChatModel(replies=list(replies)), name="scripted")


def build(world: World, model: Model | None = None, **providers: object):  # type: ignore[no-untyped-def]
    return build_clone(
        world.store,
        world.knowledge,
        model or scripted(PERSONALITY),
        world.creator_id,
        voice=providers.get("voice") or SimulatedVoice(),  # type: ignore[arg-type]
        appearance=providers.get("appearance") or SimulatedAppearance(),  # type: ignore[arg-type]
    )


def events_of(world: World, type: str) -> list[str]:
    clone_id = clone_entity_id(world.creator_id)
    return [e.type for e in world.store.events.timeline(target_id=clone_id, type=type).items]


def test_a_thin_creator_is_told_what_to_add(world: World) -> None:
    thin = world.store.entities.create("creator", "Theo").id
    world.knowledge.ingest_sources(
        thin,
        [
            Source(key="v1", kind="video", title="v1", segments=[Segment(text="Knife work.")]),
            Source(key="a1", kind="audio", title="a1", segments=[Segment(text="Stock talk.")]),
        ],
    )
    with pytest.raises(InsufficientContentError) as refused:
        check_content(world.store, thin)
    message = str(refused.value)
    assert "Theo has 1 video, 1 audio sample" in message
    assert "Ingest 2 more videos and 4 more audio samples" in message
    assert refused.value.missing == {"video": 2, "audio": 4}
    with pytest.raises(InsufficientContentError):
        build_clone(
            world.store,
            world.knowledge,
            scripted(),  # never asked: the check comes first
            thin,
            voice=SimulatedVoice(),
            appearance=SimulatedAppearance(),
        )
    assert check_content(world.store, thin, Requirements(video=1, audio=1)).videos


def test_building_the_clone_records_it_with_its_connections_and_events(world: World) -> None:
    model = scripted(PERSONALITY)
    voice, appearance = SimulatedVoice(), SimulatedAppearance()
    built = build(world, model, voice=voice, appearance=appearance)
    clone, store = built.clone, world.store

    assert (clone.type, clone.status, clone.id) == (
        "ai_clone",
        "active",
        clone_entity_id(world.creator_id),
    )
    props = clone.properties
    assert props["systemPrompt"] == PERSONALITY.system_prompt
    assert props["traits"] == ["warm", "precise", "wry"] and props["temperature"] == 0.7
    assert props["voiceId"] in voice.voices and props["appearanceId"] in appearance.avatars
    assert props["knowledgeBaseSize"] == world.knowledge.count(world.creator_id) > 0
    assert props["totalInteractions"] == 0 and props["lastTrainingDate"]
    assert len(voice.voices[props["voiceId"]]) == 5  # the five audio episodes

    content = check_content(store, world.creator_id).all
    trained = store.connections.query(clone.id, type="trained_on", limit=100).items
    assert sorted(c.to_id for c in trained) == sorted(e.id for e in content)
    [clone_of] = store.connections.query(clone.id, type="clone_of").items
    assert clone_of.to_id == world.creator_id and clone_of.metadata["cloneVersion"] == 1
    assert store.connections.query(world.creator_id, clone.id, "owns").items
    assert events_of(world, "clone_created") == ["clone_created"]
    assert events_of(world, "voice_cloned") == ["voice_cloned"]
    assert events_of(world, "appearance_cloned") == ["appearance_cloned"]
    assert {t.name for t in store.tags.of(clone.id)} >= {"ai_clone", "active"}
    # The personality came from samples of her content, fenced as data.
    sent = "\n".join(str(m.content) for m in model.chat.calls[0]["messages"])  # type: ignore[attr-defined]
    assert (
        "<data-" in sent and "Maya Lin" in sent and sent.count("<data-") == 1 + 8
    )  # the rules, then 8 samples


def test_a_failing_voice_provider_leaves_a_draft_that_activates_later(world: World) -> None:
    voice = SimulatedVoice()
    voice.simulation.fail("clone_voice", "unavailable", times=3)
    built = build(world, voice=voice)
    assert built.clone.status == "draft" and built.voice_error is not None
    assert "unavailable" in built.voice_error and built.appearance_error is None
    assert events_of(world, "voice_cloned") == [] and voice.voices == {}
    active = attach_voice(world.store, built.clone.id, Media("simulated-voice", "voice_x", 5))
    assert active.status == "active"
    assert events_of(world, "voice_cloned") == ["voice_cloned"]


def test_a_lost_response_is_retried_with_the_same_key_and_makes_one_voice(world: World) -> None:
    voice = SimulatedVoice()
    voice.simulation.fail("clone_voice", "lost")
    built = build(world, voice=voice)
    assert built.clone.status == "active" and len(voice.voices) == 1
    assert built.clone.properties["voiceId"] in voice.voices


def test_building_again_updates_the_clone_and_adds_nothing_twice(world: World) -> None:
    first = build(world).clone
    again = build(world).clone
    assert again.id == first.id and again.status == "active"
    trained = world.store.connections.query(first.id, type="trained_on", limit=100).items
    assert len(trained) == len({c.to_id for c in trained})
    assert events_of(world, "clone_created") == ["clone_created"]
    assert events_of(world, "clone_updated") == ["clone_updated"]
    # attaching the same media again is harmless
    media = Media("simulated-voice", str(first.properties["voiceId"]), 5)
    attach_voice(world.store, first.id, media)
    attach_appearance(
        world.store,
        first.id,
        Media("simulated-appearance", str(first.properties["appearanceId"]), 4),
    )
    assert len(events_of(world, "voice_cloned")) == 1  # one per voice id: the same id here


def test_a_personality_the_model_cannot_give_fails_clearly(world: World) -> None:
    model = Model(ScriptedChatModel(replies=["no idea"] * 4), name="scripted", max_attempts=2)
    with pytest.raises(PersonalityExtractionError, match="no usable personality for Maya Lin"):
        build(world, model)
    assert world.store.entities.find(clone_entity_id(world.creator_id)) is None


def passages(messages: list[BaseMessage]) -> str:
    return str(messages[-1].content)


def answer_from_first_passage(messages: list[BaseMessage]) -> str:
    text = passages(messages)
    body = text.split(">\n", 1)[1].split("\n</data-", 1)[0]
    return f"From my notes [1]: {body[:80]}"


def test_the_clone_answers_from_her_content_cites_it_and_remembers_the_fan(
    world: World,
) -> None:
    build(world)
    sam = fan(world.store, world.creator_id, "sam")
    model = scripted(answer_from_first_passage, "As I said [1], yes.")
    clone = Clone.of(world.store, world.knowledge, model, world.creator_id)
    reply = clone.reply(sam.id, "How long should the sourdough rest in the fridge?")

    assert reply.text.startswith("From my notes [1]:")
    assert reply.sources and reply.sources[0].n == 1
    first = reply.sources[0]
    assert world.store.entities.get(first.entity_id).type in {
        "video",
        "podcast",
        "blog_post",
        "social_post",
        "message",
    }
    event = reply.event
    assert (event.type, event.actor_id, event.target_id) == (
        "clone_interaction",
        sam.id,
        clone.entity.id,
    )
    meta = event.metadata
    assert meta["message"] == "How long should the sourdough rest in the fridge?"
    assert meta["response"] == reply.text and meta["tokensUsed"] > 0
    assert meta["sources"] == [s.chunk_id for s in reply.sources]
    assert meta["cited"] == [first.chunk_id]
    sent = model.chat.calls[0]  # type: ignore[attr-defined]
    assert "tools" not in sent["kwargs"] and sent["kwargs"]["temperature"] == 0.7
    assert "Speak as Maya" in str(sent["messages"][0].content)

    # A new Clone object (a restart) remembers the conversation from the events.
    again = Clone.of(world.store, world.knowledge, model, world.creator_id)
    again.reply(sam.id, "And at room temperature?")
    history = [str(m.content) for m in model.chat.calls[1]["messages"][1:3]]  # type: ignore[attr-defined]
    assert history == ["How long should the sourdough rest in the fridge?", reply.text]
    assert world.store.entities.get(clone.entity.id).properties["totalInteractions"] == 2


def test_memory_is_per_fan(world: World) -> None:
    build(world)
    model = scripted("Hi Sam.", "Hi Ana.")
    clone = Clone.of(world.store, world.knowledge, model, world.creator_id)
    clone.reply(fan(world.store, world.creator_id, "sam").id, "hello, I'm Sam")
    clone.reply(fan(world.store, world.creator_id, "ana").id, "hello")
    second = model.chat.calls[1]["messages"]  # type: ignore[attr-defined]
    assert len(second) == 2 and "Sam" not in str(second[1].content)


def test_the_clone_only_ever_sees_its_own_creators_content(world: World) -> None:
    other = world.store.entities.create("creator", "Rival Chef").id
    canary = "ZEBRA-ANCHOVY-7731"
    world.knowledge.ingest_sources(
        other,
        [
            Source(
                key=f"rival-{i}",
                kind="article",
                title="sourdough secrets",
                segments=[Segment(text=f"{canary} sourdough rest fridge pasta salt knife {i}")],
            )
            for i in range(20)
        ],
    )
    build(world)
    questions = [
        "How long should the sourdough rest in the fridge?",
        f"What is {canary}?",
        "pasta salt knife sourdough",
    ]
    model = scripted(*["ok"] * len(questions))
    clone = Clone.of(world.store, world.knowledge, model, world.creator_id)
    sam = fan(world.store, world.creator_id, "sam")
    for question in questions:
        reply = clone.reply(sam.id, question)
        assert all(s.entity_id != "" for s in reply.sources)
    for call in model.chat.calls:  # type: ignore[attr-defined]
        assert canary not in passages(call["messages"]).replace(questions[1], "")


def test_the_reply_streams_and_is_recorded_as_shown(world: World) -> None:
    build(world)
    words = "Rest it overnight, twelve hours, in the fridge [1]. Pickle disapproves of waiting."
    model = scripted(words)
    clone = Clone.of(world.store, world.knowledge, model, world.creator_id)
    stream = clone.stream(fan(world.store, world.creator_id, "sam").id, "sourdough rest?")
    pieces = list(stream)
    assert len(pieces) >= 2 and "".join(pieces) == words
    assert stream.reply is not None and stream.reply.text == words
    assert stream.reply.event.metadata["response"] == words
    assert stream.reply.usage is not None and stream.reply.usage.output_tokens > 0


def test_the_token_gate_refuses_fans_without_tokens(world: World) -> None:
    build(world)
    store = world.store
    model = scripted("Welcome, token holder.")
    clone = Clone.of(store, world.knowledge, model, world.creator_id, token_gate=True)
    sam = fan(store, world.creator_id, "sam")
    with pytest.raises(AccessDeniedError, match="purchase tokens to chat with Maya Lin's AI clone"):
        clone.reply(sam.id, "hi")
    token = store.entities.create("token", "MAYA")
    store.connections.connect(world.creator_id, token.id, "owns")
    foreign = store.entities.create("token", "OTHER")  # someone else's token
    store.connections.connect(sam.id, foreign.id, "holds_tokens", {"balance": 50})
    empty = store.connections.connect(sam.id, token.id, "holds_tokens", {"balance": 0})
    with pytest.raises(AccessDeniedError):
        clone.reply(sam.id, "hi")
    store.connections.patch(empty.id, {"balance": 10})
    assert clone.reply(sam.id, "hi").text == "Welcome, token holder."
    assert len(model.chat.calls) == 1  # type: ignore[attr-defined]  # refusals cost nothing


def test_bad_requests_are_refused_before_the_model(world: World) -> None:
    with pytest.raises(CloneNotFoundError, match="Maya Lin has no clone yet"):
        Clone.of(world.store, world.knowledge, scripted(), world.creator_id)
    build(world)
    model = scripted()
    clone = Clone.of(world.store, world.knowledge, model, world.creator_id, max_message_chars=50)
    sam = fan(world.store, world.creator_id, "sam")
    with pytest.raises(MessageRejectedError, match="empty"):
        clone.reply(sam.id, "   ")
    with pytest.raises(MessageRejectedError, match="the limit is 50"):
        clone.reply(sam.id, "x" * 51)
    with pytest.raises(NotFoundError):
        clone.reply("no-such-fan", "hi")
    assert model.chat.calls == []  # type: ignore[attr-defined]


def test_a_retried_request_with_its_key_is_answered_once(world: World) -> None:
    build(world)
    model = scripted("Twelve hours [1].")
    clone = Clone.of(world.store, world.knowledge, model, world.creator_id)
    sam = fan(world.store, world.creator_id, "sam")
    first = clone.reply(sam.id, "sourdough rest?", key="req-1")
    again = clone.reply(sam.id, "sourdough rest?", key="req-1")
    streamed = clone.stream(sam.id, "sourdough rest?", key="req-1")
    assert "".join(streamed) == first.text == again.text
    assert again.event == first.event and len(model.chat.calls) == 1  # type: ignore[attr-defined]
    clone_id = clone.entity.id
    assert world.store.entities.get(clone_id).properties["totalInteractions"] == 1


def test_the_link_guard_leaves_ordinary_prose_alone() -> None:
    from agents._guard import safe_links

    prose = (
        "Note: salt at 1:1.2, e.g. a 3.5% brine by 12:30. Salt, Fat, Weeknight [1]. "
        "Save it as pantry.txt. Shop: https://mayalin.example/shop or www.mayalin.example."
    )
    assert safe_links(prose, ["mayalin.example"]) == prose
    assert safe_links("see evil.example/x or http://evil.example", ["mayalin.example"]) == (
        "see [link removed] or [link removed]"
    )
