"""A chat turn is a short run (`durability="exit"`): one checkpoint, its node events
written with its ending, and a turn a crash stopped answered again from its message."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from langchain_core.runnables import RunnableConfig

from graphs import Run, clone
from one._app import One
from tests.one.chat_child import FIRST, SECOND
from tests.one.conftest import make_one


def test_a_turn_writes_its_steps_with_its_ending_and_one_checkpoint(one: One, maya: str) -> None:
    one.build_clone(maya)
    turn = one.chat(maya, "sam", "How salty should pasta water be?")
    events = one.store.events.read_run(turn.run.id)
    assert [e.type for e in events] == [
        "run_accepted",
        *["node_started", "node_completed"] * 3,
        "run_completed",
    ]
    assert [e.metadata["node"] for e in events[1:-1]][::2] == ["retrieve", "respond", "record"]
    steps_and_ending = [e.seq for e in events[1:]]  # one write: consecutive in the log
    assert steps_and_ending == list(range(steps_and_ending[0], steps_and_ending[0] + 7))
    checkpoints = list(one.runs.saver.list({"configurable": {"thread_id": turn.run.thread_id}}))
    assert [c.metadata.get("runId") for c in checkpoints] == [turn.run.id]
    assert (
        events[-1].metadata["checkpointId"]
        == checkpoints[0].config["configurable"]["checkpoint_id"]
    )


def test_an_earlier_turn_keeps_its_own_answer_after_later_turns(one: One, maya: str) -> None:
    one.build_clone(maya)
    first = one.chat(maya, "sam", "How salty should pasta water be?")
    later = one.chat(maya, "sam", "And how long do I boil it?")
    again = one.runs.get(first.run.id)
    assert again.values["message"] == "How salty should pasta water be?"
    assert again.values["answer"]["text"] == first.text
    assert one.runs.get(later.run.id).values["message"] == "And how long do I boil it?"
    assert [m for m, _ in later.run.values["history"]] == [
        first.run.values["message"],
        later.run.values["message"],
    ]


def test_a_thread_keeps_its_latest_turns_not_all_of_them(one: One, maya: str) -> None:
    one.build_clone(maya)
    for n in range(clone.HISTORY_KEPT + 3):
        turn = one.chat(maya, "sam", f"Question {n}?")
    history = turn.run.values["history"]
    assert len(history) == clone.HISTORY_KEPT
    assert (
        history[-1][0] == f"Question {clone.HISTORY_KEPT + 2}?" and history[0][0] == "Question 3?"
    )


def test_a_turn_killed_after_its_answer_was_recorded_is_finished_once(tmp_path: Path) -> None:
    """Killed between recording the answer and writing the run's ending: a restart runs
    the turn again from its message (on a thread with an earlier turn), and the answer
    is recorded once; the killed attempt's steps leave no node events."""
    data = tmp_path / "data"
    assert _child(data, "setup") == 0
    assert _child(data, "killed") == -signal.SIGKILL
    with make_one(data) as one:
        maya = one.creator("Maya Lin").id
        sam = one.fan(maya, "sam").id
        asked = [
            e.metadata["message"]
            for e in one.store.events.timeline(type="clone_interaction", actor_id=sam).items
        ]
        assert asked == [FIRST, SECOND]  # recorded before the kill
        killed = next(r for r in one.runs.list() if _asked(r) == SECOND)
        assert killed.status == "accepted"
        assert [e.type for e in killed.events] == ["run_accepted"]
    assert _child(data, "recover") == 0
    with make_one(data) as one:
        run = one.runs.get(killed.id)
        assert run.status == "completed"
        assert run.values["message"] == SECOND
        assert [m for m, _ in run.values["history"]] == [FIRST, SECOND]
        interactions = one.store.events.timeline(type="clone_interaction", actor_id=sam).items
        assert [e.metadata["message"] for e in interactions] == [FIRST, SECOND]
        assert [e.type for e in run.events].count("node_completed") == 3


def test_a_turn_killed_as_its_ending_was_written_is_done_again_with_its_steps(
    tmp_path: Path,
) -> None:
    """Killed after the turn's checkpoint was written, before its ending (which carries
    the steps' events): a restart makes the turn again from the checkpoint before it, so
    its steps are recorded once, the answer once, and the conversation holds it once."""
    data = tmp_path / "data"
    assert _child(data, "setup") == 0
    assert _child(data, "killed_at_ending") == -signal.SIGKILL
    with make_one(data) as one:
        killed = next(r for r in one.runs.list() if _asked(r) == SECOND)
        assert [e.type for e in killed.events] == ["run_accepted"]
        thread: RunnableConfig = {"configurable": {"thread_id": killed.thread_id}}
        latest = one.runs.saver.get_tuple(thread)
        assert latest is not None and latest.metadata.get("runId") == killed.id  # written
    assert _child(data, "recover") == 0
    with make_one(data) as one:
        run = one.runs.get(killed.id)
        assert run.status == "completed"
        assert [e.type for e in run.events] == [
            "run_accepted",
            *["node_started", "node_completed"] * 3,
            "run_completed",
        ]
        assert [m for m, _ in run.values["history"]] == [FIRST, SECOND]
        sam = one.fan(run.values["creator_id"], "sam").id
        interactions = one.store.events.timeline(type="clone_interaction", actor_id=sam).items
        assert [e.metadata["message"] for e in interactions] == [FIRST, SECOND]
        latest = one.runs.saver.get_tuple({"configurable": {"thread_id": run.thread_id}})
        assert latest is not None
        assert (
            run.events[-1].metadata["checkpointId"]
            == latest.config["configurable"]["checkpoint_id"]
        )


def _asked(run: Run) -> object:
    return run.events[0].metadata["input"].get("message")


def _child(data: Path, command: str) -> int:
    done = subprocess.run(
        [sys.executable, "-m", "tests.one.chat_child", str(data), command],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode not in (0, -signal.SIGKILL):
        raise AssertionError(f"{command}: exit {done.returncode}\n{done.stderr[-3000:]}")
    return done.returncode


def test_pruning_keeps_a_chat_s_memory_and_its_answers(one: One, maya: str) -> None:
    """`prune` trims a shared thread to its latest checkpoint (a run's own thread goes
    whole): the fan's next turn still remembers, and a replayed old request still gets
    its answer, from the ontology."""
    one.build_clone(maya)
    first = one.chat(maya, "sam", "How salty should pasta water be?", key="req-1")
    one.chat(maya, "sam", "And how long do I boil it?")
    thread: RunnableConfig = {"configurable": {"thread_id": first.run.thread_id}}
    assert len(list(one.runs.saver.list(thread))) == 2
    time.sleep(0.01)  # ended before the cutoff, not in its millisecond
    assert one.runs.prune(older_than=timedelta(0)) >= 1
    assert len(list(one.runs.saver.list(thread))) == 1
    third = one.chat(maya, "sam", "Can I use sea salt?")
    assert [m for m, _ in third.run.values["history"]] == [
        "How salty should pasta water be?",
        "And how long do I boil it?",
        "Can I use sea salt?",
    ]
    again = one.chat(maya, "sam", "How salty should pasta water be?", key="req-1")
    assert again.run.id == first.run.id and again.text == first.text
    assert again.run.values == {}  # its checkpoint was pruned: the answer is the ontology's


def test_a_fan_who_leaves_mid_stream_gets_the_answer_when_the_request_comes_again(
    one: One, maya: str
) -> None:
    """The stream closed half-read (the client went away): the turn stops, failed, and is
    left alone by `recover`; the same request sent again (same key) finishes it, once."""
    one.build_clone(maya)
    stream = one.chat_stream(maya, "sam", FIRST, key="req-1")
    pieces = iter(stream)
    first = next(pieces)
    pieces.close()  # type: ignore[attr-defined]
    [left] = [r for r in one.runs.list() if _asked(r) == FIRST]
    assert left.status == "failed"
    assert one.runs.recover() == []
    again = one.chat(maya, "sam", FIRST, key="req-1")
    assert again.run.id == left.id and again.run.status == "completed"
    assert again.text.startswith(first)
    sam = one.fan(maya, "sam").id
    interactions = one.store.events.timeline(type="clone_interaction", actor_id=sam).items
    assert [e.metadata["message"] for e in interactions] == [FIRST]
    assert [m for m, _ in again.run.values["history"]] == [FIRST]
