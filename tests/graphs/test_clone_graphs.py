"""Building the clone and chatting with it, as graph runs: parallel build steps, a thread
per (clone, fan) that remembers across turns and restarts, guarded streaming."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import BaseMessage

from agents import Model, ScriptedChatModel, clone_entity_id, fan
from agents.errors import AccessDeniedError, ConfigurationError, InsufficientContentError
from agents.providers import Providers
from graphs import Deps, Runs, checkpointer, clone
from knowledge import Retriever
from ontology.errors import ConstraintViolationError, InvalidInputError
from tests.agents.conftest import World
from tests.agents.test_clone import PERSONALITY
from tests.graphs.test_gate import Overlap


@contextmanager
def running(
    world: World, tmp_path: Path, *replies: object, providers: Providers | None = None
) -> Iterator[Runs]:
    model = Model(ScriptedChatModel(replies=list(replies)), name="scripted")
    deps = Deps(
        world.store,
        model,
        knowledge=world.knowledge,
        providers=providers or Providers.simulated(),
        registry=world.registry,
    )
    with checkpointer(f"sqlite:///{tmp_path / 'checkpoints.db'}") as saver:
        yield Runs(deps, saver, {clone.BUILD: clone.build_graph(), clone.CHAT: clone.chat_graph()})


def nodes(world: World, run_id: str) -> list[tuple[str, str]]:
    return [
        (e.type, str(e.metadata["node"]))
        for e in world.store.events.read_run(run_id)
        if e.type.startswith("node_")
    ]


def build(world: World, tmp_path: Path, providers: Providers | None = None) -> str:
    with running(world, tmp_path, PERSONALITY, providers=providers) as runs:
        run = runs.start(clone.BUILD, {"creator_id": world.creator_id})
    assert run.status == "completed"
    return run.id


def test_the_build_checks_then_runs_voice_appearance_and_personality_then_records(
    world: World, tmp_path: Path
) -> None:
    providers = Providers.simulated()
    run_id = build(world, tmp_path, providers)
    store, clone_id = world.store, clone_entity_id(world.creator_id)
    entity = store.entities.get(clone_id)
    assert entity.status == "active"
    assert entity.properties["voiceId"] in providers.voice.voices  # type: ignore[attr-defined]
    assert entity.properties["systemPrompt"] == PERSONALITY.system_prompt
    steps = nodes(world, run_id)
    assert steps[:2] == [("node_started", "check"), ("node_completed", "check")]
    assert steps[-2:] == [("node_started", "record"), ("node_completed", "record")]
    middle = {n for _, n in steps[2:-2]}
    assert middle == {"personality", "voice", "appearance"}
    kinds = [e.type for e in store.events.timeline(target_id=clone_id, limit=50).items]
    assert kinds.count("clone_created") == 1 and kinds.count("clone_trained") == 1
    assert kinds.count("voice_cloned") == 1 and kinds.count("appearance_cloned") == 1


def test_a_failing_voice_provider_leaves_a_draft_and_says_why(world: World, tmp_path: Path) -> None:
    providers = Providers.simulated()
    providers.voice.simulation.fail("clone_voice", "unavailable", times=3)  # type: ignore[attr-defined]
    with running(world, tmp_path, PERSONALITY, providers=providers) as runs:
        run = runs.start(clone.BUILD, {"creator_id": world.creator_id})
    assert run.status == "completed" and run.values["status"] == "draft"
    assert run.values["errors"][0].startswith("voice: simulated-voice: ProviderUnavailableError")
    assert ("node_failed", "voice") in nodes(world, run.id)


def test_a_creator_without_enough_content_gets_the_check_s_error_and_nothing_else(
    world: World, tmp_path: Path
) -> None:
    thin = world.store.entities.create("creator", "Theo").id
    with running(world, tmp_path) as runs:  # no replies: the model is never asked
        with pytest.raises(InsufficientContentError, match="Ingest 3 more videos"):
            runs.start(clone.BUILD, {"creator_id": thin})
        (run,) = runs.list()
    assert run.status == "failed"
    assert [n for _, n in nodes(world, run.id)] == ["check", "check"]


def answering(prefix: str):  # type: ignore[no-untyped-def]
    """A model reply that tells which turns it was shown: the earlier questions."""

    def reply(messages: list[BaseMessage]) -> str:
        earlier = [str(m.content) for m in messages[1:-1] if m.type == "human"]
        return f"{prefix} (I remember {len(earlier)} earlier: {'; '.join(earlier)}) [1]"

    return reply


def test_a_thread_per_fan_remembers_across_turns_and_restarts(world: World, tmp_path: Path) -> None:
    build(world, tmp_path)
    sam = fan(world.store, world.creator_id, "sam").id
    ada = fan(world.store, world.creator_id, "ada").id
    with running(world, tmp_path, answering("One"), answering("Two")) as runs:
        first = clone.chat(runs, world.creator_id, sam, "How long do I rest the dough?")
        other = clone.chat(runs, world.creator_id, ada, "What knife do you use?")
    assert "remember 0 earlier" in first.text and "remember 0 earlier" in other.text
    assert first.sources and first.run.thread_id == clone.thread_of(world.creator_id, sam)
    with running(world, tmp_path, answering("Three")) as runs:  # a new process, same files
        again = clone.chat(runs, world.creator_id, sam, "And at what temperature?")
    assert "remember 1 earlier: How long do I rest the dough?" in again.text
    assert again.run.values["history"][0][0] == "How long do I rest the dough?"
    interactions = world.store.events.timeline(type="clone_interaction", actor_id=sam).items
    assert [e.metadata["message"] for e in interactions] == [
        "How long do I rest the dough?",
        "And at what temperature?",
    ]
    assert [n for _, n in nodes(world, again.run.id)][::2] == ["retrieve", "respond", "record"]


def test_the_answer_streams_through_the_guard_and_a_retried_key_repeats_nothing(
    world: World, tmp_path: Path
) -> None:
    build(world, tmp_path)
    sam = fan(world.store, world.creator_id, "sam").id
    answer = "Rest it an hour [1]. Details at https://evil.example/steal and more words to flush."
    with running(world, tmp_path, answer) as runs:
        pieces = list(clone.chat_stream(runs, world.creator_id, sam, "Rest?", key="req-1"))
        text = "".join(pieces)
        assert len(pieces) > 1 and "evil.example" not in text and "[link removed]" in text
        replayed = clone.chat(runs, world.creator_id, sam, "Rest?", key="req-1")
    assert replayed.text == text.strip()
    assert len(world.store.events.timeline(type="clone_interaction", actor_id=sam).items) == 1


def test_the_token_gate_stops_a_fan_before_any_model_call(world: World, tmp_path: Path) -> None:
    build(world, tmp_path)
    sam = fan(world.store, world.creator_id, "sam").id
    model = Model(ScriptedChatModel(replies=[]), name="scripted")
    deps = Deps(world.store, model, knowledge=world.knowledge, registry=world.registry)
    with checkpointer(f"sqlite:///{tmp_path / 'c.db'}") as saver:
        runs = Runs(deps, saver, {clone.CHAT: clone.chat_graph(token_gate=True)})
        with pytest.raises(AccessDeniedError, match="purchase tokens"):
            clone.chat(runs, world.creator_id, sam, "Hello?")


def test_a_failed_turn_keeps_its_steps_and_its_resume_records_each_step_once(
    world: World, tmp_path: Path
) -> None:
    """A turn's node events are written with its ending, a failure too; resuming it runs
    the failed step again, and the steps already recorded are not recorded twice."""
    build(world, tmp_path)
    sam = fan(world.store, world.creator_id, "sam").id
    with running(world, tmp_path, ValueError("the model broke"), "Salt it well [1].") as runs:
        with pytest.raises(ValueError, match="the model broke"):
            clone.chat(runs, world.creator_id, sam, "How salty?", key="req-9")
        accepted = world.store.events.find(
            f"run_accepted:{clone._ids(world.creator_id, sam, 'req-9')['run_id']}"
        )
        assert accepted is not None and accepted.run_id is not None
        failed = runs.get(accepted.run_id)
        assert failed.status == "failed"
        assert nodes(world, failed.id) == [
            ("node_started", "retrieve"),
            ("node_completed", "retrieve"),
            ("node_started", "respond"),
            ("node_failed", "respond"),
        ]
        resumed = runs.resume(failed.id)
    assert resumed.status == "completed" and resumed.values["answer"]["text"] == "Salt it well [1]."
    assert nodes(world, resumed.id) == [
        ("node_started", "retrieve"),
        ("node_completed", "retrieve"),
        ("node_started", "respond"),
        ("node_failed", "respond"),
        ("node_completed", "respond"),
        ("node_started", "record"),
        ("node_completed", "record"),
    ]


def test_a_chat_cannot_remember_more_turns_than_its_thread_keeps() -> None:
    with pytest.raises(ConfigurationError, match=f"at most {clone.HISTORY_KEPT} turns"):
        clone.chat_graph(history=clone.HISTORY_KEPT + 1)
    assert clone.chat_graph(history=clone.HISTORY_KEPT) is not None


def test_a_run_s_durability_is_sync_or_exit(world: World, tmp_path: Path) -> None:
    with running(world, tmp_path) as runs, pytest.raises(InvalidInputError, match="durability"):
        runs.start(clone.CHAT, {"creator_id": world.creator_id}, durability="never")  # type: ignore[arg-type]
    assert world.store.events.timeline(type="run_accepted").items == []


def test_a_retried_request_finishes_its_turn_or_says_it_is_still_being_answered(
    world: World, tmp_path: Path
) -> None:
    """The same key again: a turn that failed is tried again and answered; a turn being
    answered right now (its run held by its driver) is a conflict, not the thread's
    previous answer."""
    build(world, tmp_path)
    sam = fan(world.store, world.creator_id, "sam").id
    with running(world, tmp_path, "First [1].", ValueError("down"), "Second [1].") as runs:
        clone.chat(runs, world.creator_id, sam, "First?")
        with pytest.raises(ValueError, match="down"):
            clone.chat(runs, world.creator_id, sam, "Second?", key="req-2")
        again = clone.chat(runs, world.creator_id, sam, "Second?", key="req-2")
        assert (again.text, again.run.status) == ("Second [1].", "completed")
        ids = clone._ids(world.creator_id, sam, "req-3")
        input = {"creator_id": world.creator_id, "fan_id": sam, "message": "Third?", "key": "req-3"}
        runs.submit(clone.CHAT, input, durability="exit", **ids)
        with (
            world.store.hold(f"drive:{ids['run_id']}"),  # its driver, answering it now
            pytest.raises(ConstraintViolationError, match="still being answered"),
        ):
            clone.chat(runs, world.creator_id, sam, "Third?", key="req-3")


def test_two_messages_at_once_from_one_fan_are_answered_one_after_the_other(
    world: World, tmp_path: Path
) -> None:
    """The second waits for the first (their runs share the thread): both stay in the
    conversation, where two at once would each carry on from the same checkpoint."""
    build(world, tmp_path)
    sam = fan(world.store, world.creator_id, "sam").id
    second_sent = threading.Event()

    def slow_first(messages: list[BaseMessage]) -> str:
        second_sent.wait(10)
        time.sleep(0.3)  # the second is waiting for the thread by now
        return "First answer [1]."

    with (
        running(world, tmp_path, slow_first, "Second answer [1].") as runs,
        ThreadPoolExecutor(2) as pool,
    ):
        first = pool.submit(clone.chat, runs, world.creator_id, sam, "First?")
        time.sleep(0.2)
        second = pool.submit(clone.chat, runs, world.creator_id, sam, "Second?")
        second_sent.set()
        turns = [first.result(timeout=60), second.result(timeout=60)]
    assert [t.text for t in turns] == ["First answer [1].", "Second answer [1]."]
    assert [m for m, _ in turns[1].run.values["history"]] == ["First?", "Second?"]


def test_turns_at_once_go_through_the_gate_one_at_a_time(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two fans' turns in one process: their searches never overlap (each turn's work runs
    alone, `graphs._gate`), and both are answered."""
    build(world, tmp_path)
    fans = [fan(world.store, world.creator_id, name).id for name in ("sam", "ada")]
    overlap, search = Overlap(), Retriever.search

    def slow_search(self: Retriever, *args: Any, **kwargs: Any) -> Any:
        overlap.during(0.2)  # the other turn is waiting by now
        return search(self, *args, **kwargs)

    monkeypatch.setattr(Retriever, "search", slow_search)
    with running(world, tmp_path, "One [1].", "Two [1].") as runs, ThreadPoolExecutor(2) as pool:
        turns = [pool.submit(clone.chat, runs, world.creator_id, f, "Rest?") for f in fans]
        answers = sorted(t.result(timeout=60).text for t in turns)
    assert overlap.most == 1 and answers == ["One [1].", "Two [1]."]


def test_a_turn_waiting_for_its_model_lets_other_turns_through(
    world: World, tmp_path: Path
) -> None:
    """The gate is left while the model answers: sam's model waits for ada's whole turn,
    which could not begin if sam's turn kept the gate."""
    build(world, tmp_path)
    sam, ada = (fan(world.store, world.creator_id, name).id for name in ("sam", "ada"))
    answering, ada_answered = threading.Event(), threading.Event()

    def reply(messages: list[BaseMessage]) -> str:
        if "Sam's" in str(messages[-1].content):
            answering.set()
            return "Sam's answer [1]." if ada_answered.wait(10) else "ada never got through"
        return "Ada's answer [1]."

    with running(world, tmp_path, reply, reply) as runs, ThreadPoolExecutor(1) as pool:
        first = pool.submit(clone.chat, runs, world.creator_id, sam, "Sam's question?")
        assert answering.wait(30)
        second = clone.chat(runs, world.creator_id, ada, "Ada's question?")
        ada_answered.set()
        assert (first.result(timeout=30).text, second.text) == (
            "Sam's answer [1].",
            "Ada's answer [1].",
        )
