"""An exit run (`durability="exit"`) that stopped between writing its checkpoint and its
ending (which carries its steps' events): what `recover` and `resume` make of it.

The stop is an exception raised where the ending would be written (`Runs._end`), the
moment a crash would have to hit; the SIGKILL version of the chat turn is in
tests/one/test_chat_turns.py.
"""

from __future__ import annotations

import operator
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt

from agents import Model, ScriptedChatModel
from graphs import Call, Deps, Runs, checkpointer, recorded
from graphs._runs import ABANDONED
from ontology import Store


class Tally(TypedDict, total=False):
    creator_id: str
    seen: Annotated[list[str], operator.add]
    word: str


class Stopped(BaseException):
    """The process stopping where the run's ending would be written."""


def _note(state: Mapping[str, Any], call: Call) -> dict[str, Any]:
    return {"seen": [str(state["word"])]}


def _gate(state: Mapping[str, Any], call: Call) -> dict[str, Any]:
    return {"seen": [f"gate:{interrupt('go on?')}"]}


FAILING = {"left": 0}


def _flaky(state: Mapping[str, Any], call: Call) -> dict[str, Any]:
    if FAILING["left"]:
        FAILING["left"] -= 1
        raise RuntimeError("the step broke")
    return {"seen": ["flaky"]}


def _talk(state: Mapping[str, Any], call: Call) -> dict[str, Any]:
    write = get_stream_writer()
    for n in (1, 2):
        write(f"{state['word']}:{n}")
    return {"seen": [f"said:{state['word']}"]}


def _graph(*after: tuple[str, Any]) -> StateGraph[Any, Deps, Any, Any]:
    graph: StateGraph[Any, Deps, Any, Any] = StateGraph(Tally, context_schema=Deps)
    graph.add_node("note", recorded("tally", "note", _note))
    graph.add_edge(START, "note")
    last = "note"
    for name, step in after:
        graph.add_node(name, recorded("tally", name, step))
        graph.add_edge(last, name)
        last = name
    graph.add_edge(last, END)
    return graph


@dataclass
class World:
    runs: Runs
    saver: BaseCheckpointSaver[str]
    creator: str
    thread: str  # one that several runs share, as a chat's turns do

    def start(self, graph: str, word: str, **options: Any) -> str:
        run_id = str(uuid.uuid4())
        input = {"creator_id": self.creator, "word": word}
        self.runs.start(graph, input, run_id=run_id, durability="exit", **options)
        return run_id

    def stopped(self, graph: str, word: str, **options: Any) -> str:
        """A run started and stopped as its completion was about to be written."""
        run_id = str(uuid.uuid4())
        with _stopping_at_completion(), pytest.raises(Stopped):
            input = {"creator_id": self.creator, "word": word}
            self.runs.start(graph, input, run_id=run_id, durability="exit", **options)
        return run_id

    def nodes(self, run_id: str) -> list[str]:
        return [
            f"{e.type}:{e.metadata['node']}"
            for e in self.runs.get(run_id).events
            if e.type.startswith("node_")
        ]

    def thread_seen(self) -> Any:
        latest = self.saver.get_tuple({"configurable": {"thread_id": self.thread}})
        assert latest is not None
        return latest.checkpoint["channel_values"].get("seen")


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    model = Model(ScriptedChatModel(replies=[]), name="unused")
    with Store.open(url) as store, checkpointer(url) as saver:
        graphs = {
            "tally": _graph(),
            "gated": _graph(("gate", _gate)),
            "flaky": _graph(("flaky", _flaky)),
            "talk": _graph(("talk", _talk)),
        }
        runs = Runs(Deps(store, model), saver, graphs)
        creator = store.entities.create("creator", "Maya Lin").id
        yield World(runs, saver, creator, str(uuid.uuid4()))


@contextmanager
def _stopping_at_completion() -> Iterator[None]:
    end = Runs._end

    def stopped(self: Runs, accepted: Any, kind: str, *args: Any, **kwargs: Any) -> None:
        if kind == "run_completed":
            raise Stopped()
        end(self, accepted, kind, *args, **kwargs)

    Runs._end = stopped  # type: ignore[method-assign]
    try:
        yield
    finally:
        Runs._end = end  # type: ignore[method-assign]


def test_a_run_stopped_at_its_ending_is_made_again_and_its_steps_recorded_once(
    world: World,
) -> None:
    world.start("tally", "one", thread_id=world.thread)
    stopped = world.stopped("tally", "two", thread_id=world.thread)
    assert world.nodes(stopped) == []  # held for the ending that was never written
    [recovered] = world.runs.recover()
    assert recovered.id == stopped and recovered.status == "completed"
    assert world.nodes(stopped) == ["node_started:note", "node_completed:note"]
    assert recovered.values["seen"] == ["one", "two"] == world.thread_seen()


def test_the_first_run_of_a_thread_stopped_at_its_ending_is_made_again(world: World) -> None:
    stopped = world.stopped("tally", "one", thread_id=world.thread)
    [recovered] = world.runs.recover()
    assert recovered.status == "completed" and recovered.values["seen"] == ["one"]
    assert world.nodes(stopped) == ["node_started:note", "node_completed:note"]
    assert world.thread_seen() == ["one"]


def test_a_stopped_run_whose_earlier_checkpoint_was_pruned_carries_on_from_its_own(
    world: World,
) -> None:
    """The checkpoint it began from is gone: it cannot be made again, so it carries on
    from its own (the conversation kept; its steps' events are lost)."""
    world.start("tally", "one", thread_id=world.thread)
    time.sleep(0.01)
    stopped = world.stopped("tally", "two", thread_id=world.thread)
    assert world.runs.prune(older_than=timedelta(0)) == 1  # "one"'s, before "two"'s
    [recovered] = world.runs.recover()
    assert recovered.id == stopped and recovered.status == "completed"
    assert recovered.values["seen"] == ["one", "two"] == world.thread_seen()


def test_a_gate_answered_then_stopped_at_the_ending_keeps_the_answer(world: World) -> None:
    """A resumed attempt is not made again (its start, the gate's answer, is not kept):
    it carries on from its checkpoint."""
    run_id = world.start("gated", "one")
    assert world.runs.get(run_id).status == "interrupted"
    with _stopping_at_completion(), pytest.raises(Stopped):
        world.runs.resume(run_id, "yes")
    [recovered] = world.runs.recover()
    assert recovered.status == "completed" and not recovered.interrupts
    assert recovered.values["seen"] == ["one", "gate:yes"]


def test_a_failed_run_resumes_from_its_checkpoint_without_its_finished_steps(
    world: World,
) -> None:
    FAILING["left"] = 1
    run_id = str(uuid.uuid4())
    with pytest.raises(RuntimeError, match="the step broke"):
        input = {"creator_id": world.creator, "word": "one"}
        world.runs.start("flaky", input, run_id=run_id, durability="exit")
    failed = world.runs.get(run_id)
    assert failed.status == "failed" and failed.events[-1].metadata["checkpointId"]
    resumed = world.runs.resume(run_id)
    assert resumed.status == "completed" and resumed.values["seen"] == ["one", "flaky"]
    assert world.nodes(run_id) == [
        "node_started:note",
        "node_completed:note",
        "node_started:flaky",
        "node_failed:flaky",
        "node_completed:flaky",  # the same task: its start is the one recorded before
    ]


def test_a_failure_recorded_without_its_checkpoint_resumes_from_it_too(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A `run_failed` written before endings named their checkpoint: the run's latest
    checkpoint is still taken as its ending's, and the finished step is not made again."""
    monkeypatch.setattr(Runs, "_own_latest_checkpoint", lambda self, accepted: {})
    FAILING["left"] = 1
    run_id = str(uuid.uuid4())
    with pytest.raises(RuntimeError):
        input = {"creator_id": world.creator, "word": "one"}
        world.runs.start("flaky", input, run_id=run_id, durability="exit")
    assert "checkpointId" not in world.runs.get(run_id).events[-1].metadata
    resumed = world.runs.resume(run_id)
    assert resumed.values["seen"] == ["one", "flaky"]
    assert world.nodes(run_id).count("node_completed:note") == 1


@pytest.mark.parametrize("durability", ["exit", "sync"])
def test_a_stream_closed_half_read_stops_its_run_failed_until_resumed(
    world: World, durability: Any
) -> None:
    """A client that goes away mid-stream: the run is not left for `recover` to carry on
    unasked; `resume` (a request sent again with its key) finishes it, once."""
    world.start("tally", "one", thread_id=world.thread)
    run_id = str(uuid.uuid4())
    input = {"creator_id": world.creator, "word": "two"}
    stream = world.runs.stream(
        "talk", input, run_id=run_id, thread_id=world.thread, durability=durability
    )
    pieces = iter(stream)
    assert next(pieces) == "two:1"
    pieces.close()  # type: ignore[attr-defined]
    stopped = world.runs.get(run_id)
    assert stopped.status == "failed" and stopped.events[-1].metadata["error"] == ABANDONED
    assert world.runs.recover() == []
    resumed = world.runs.resume(run_id)
    assert resumed.status == "completed"
    assert resumed.values["seen"] == ["one", "two", "said:two"] == world.thread_seen()
    assert world.nodes(run_id).count("node_completed:talk") == 1
    assert world.nodes(run_id).count("node_completed:note") == 1
