"""Kill -9 matrix: a run killed anywhere, restarted and recovered, ends as if never killed.

Each run of the killable graph (`tests.graphs.killable`) is killed with SIGKILL at a point
in the life of each node (as it starts, before, in the middle of and after its effects,
once it is recorded complete), after each checkpoint, right after it was accepted, as it
ends, or at a random time over many seeds; the recovery may be killed again; a last
recovery finishes it. Then the final state equals an uninterrupted
run's, each node's effects happened once, each execution has one `node_started` and one
`node_completed`, and no node recorded complete before a kill ran again.

The processes are forked from a server that has only imported the modules (multiprocessing's
`forkserver`): each is a fresh process, with its own connections and nothing shared with
the others but the files, and starts in a tenth of a second where a new interpreter takes
three to import ONE. One test runs the script itself (`python -m tests.graphs.killable`).
"""

from __future__ import annotations

import itertools
import multiprocessing
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from multiprocessing.context import ForkServerContext
from pathlib import Path
from typing import Any

import pytest

from tests.graphs import killable
from tests.graphs.killable import CHECKPOINTS, NODES, POINTS

pytestmark = pytest.mark.slow
ROOT = Path(__file__).parents[2]
SEEDS = 40
ONCE = Counter(dict.fromkeys(NODES, 1))
KILLED = -signal.SIGKILL


@dataclass(frozen=True)
class Reference:
    values: dict[str, Any]
    seconds: float  # how long an uninterrupted run takes, once its files are open


@pytest.fixture(scope="module")
def forks() -> ForkServerContext:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["tests.graphs.killable"])
    return context


@pytest.fixture(scope="module")
def reference(forks: ForkServerContext, tmp_path_factory: pytest.TempPathFactory) -> Reference:
    directory = _prepared(tmp_path_factory.mktemp("reference"))
    run_id = str(uuid.uuid4())
    _child(forks, directory, "start", run_id)  # warms the fork server up
    run_id = str(uuid.uuid4())
    ready = forks.Event()
    process = forks.Process(target=killable.run, args=(directory, "start", run_id, None, ready))
    process.start()
    assert ready.wait(60)
    began = time.perf_counter()
    process.join(60)
    seconds = time.perf_counter() - began
    assert process.exitcode == 0
    with killable.open_world(directory) as world:
        run = world.runs.get(run_id)
        saved = list(world.runs.saver.list({"configurable": {"thread_id": run.thread_id}}))
    assert len(saved) == CHECKPOINTS  # so `checkpointed:N` covers every one of them
    values = run.values
    assert values["trail"] == ["plan", "left", "right", "join", "close"]
    assert values["total"] == 5
    reference = Reference(values, seconds)
    _check(directory, run_id, reference, {})
    return reference


def _scenarios() -> list[tuple[str, str | None]]:
    """(first kill, kill of the first recovery) for each point of each node, and more."""
    following = dict(itertools.pairwise(NODES))
    scenarios: list[tuple[str, str | None]] = [
        (f"{point}:{node}", f"{point}:{following[node]}" if node in following else None)
        for point in POINTS
        for node in NODES
    ]
    return [
        *scenarios,
        *((f"checkpointed:{n}", "checkpointed:1") for n in range(1, CHECKPOINTS + 1)),
        ("accepted", None),
        ("accepted", "before_effect:plan"),  # the restart from the input is killed too
        ("completed:right", "completed:left"),
        ("finishing", None),
        ("completed:close", "finishing"),
    ]


@pytest.mark.parametrize(("first", "second"), _scenarios())
def test_a_run_killed_at_a_point_ends_as_if_never_killed(
    forks: ForkServerContext,
    reference: Reference,
    tmp_path: Path,
    first: str,
    second: str | None,
) -> None:
    directory, run_id = _prepared(tmp_path), str(uuid.uuid4())
    assert _child(forks, directory, "start", run_id, kill_at=first) == KILLED
    done = _completed(directory, run_id)
    if second is not None:
        assert _child(forks, directory, "recover", kill_at=second) in (0, KILLED)
        done |= _completed(directory, run_id)
    assert _child(forks, directory, "recover") == 0
    _check(directory, run_id, reference, done)


def test_a_run_killed_before_its_first_checkpoint_is_not_lost(
    forks: ForkServerContext, reference: Reference, tmp_path: Path
) -> None:
    directory, run_id = _prepared(tmp_path), str(uuid.uuid4())
    assert _child(forks, directory, "start", run_id, kill_at="accepted") == KILLED
    with killable.open_world(directory) as world:
        run = world.runs.get(run_id)
        assert run.status == "accepted" and run.values == {}
        assert world.runs.saver.get_tuple({"configurable": {"thread_id": run.thread_id}}) is None
    assert _child(forks, directory, "recover") == 0
    _check(directory, run_id, reference, {})


def test_recovery_finishes_every_killed_run_when_one_of_them_fails(
    forks: ForkServerContext, reference: Reference, tmp_path: Path
) -> None:
    directory, doomed, fine = _prepared(tmp_path), str(uuid.uuid4()), str(uuid.uuid4())
    for run_id in (doomed, fine):  # the doomed run was accepted first, so recovered first
        assert _child(forks, directory, "start", run_id, kill_at="accepted") == KILLED
    with killable.open_world(directory, doomed={doomed}) as world:
        recovered = world.runs.recover(graph=killable.NAME)
        assert [r.status for r in recovered] == ["failed", "completed"]
        assert world.runs.get(doomed).status == "failed"
        assert world.runs.get(fine).status == "completed"
    _check(directory, fine, reference, {})


@pytest.mark.parametrize("seed", range(SEEDS))
def test_a_run_killed_at_random_times_ends_as_if_never_killed(
    forks: ForkServerContext, reference: Reference, tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    directory, run_id = _prepared(tmp_path), str(uuid.uuid4())
    done: dict[str, str] = {}
    kills = [rng.uniform(0, reference.seconds / (1 + n)) for n in range(rng.randint(1, 2))]
    for kill_after in kills:  # a recovery has less left to do than the start
        # a run killed before it was accepted is not there to recover: its caller starts it again
        command = "recover" if _accepted(directory, run_id) else "start"
        _child(forks, directory, command, run_id, kill_after=kill_after)
        done |= _completed(directory, run_id)
    if not _accepted(directory, run_id):
        assert _child(forks, directory, "start", run_id) == 0
    assert _child(forks, directory, "recover") == 0
    _check(directory, run_id, reference, done)


def test_the_script_recovers_a_run_killed_right_after_it_was_accepted(
    reference: Reference, tmp_path: Path
) -> None:
    directory, run_id = _prepared(tmp_path), str(uuid.uuid4())
    script = [sys.executable, "-m", "tests.graphs.killable", str(directory)]
    killed = subprocess.run(
        [*script, "start", run_id, "--kill-at", "accepted"], cwd=ROOT, capture_output=True
    )
    assert killed.returncode == KILLED, killed.stderr
    with killable.open_world(directory) as world:
        assert world.runs.get(run_id).status == "accepted"
    recovered = subprocess.run([*script, "recover"], cwd=ROOT, capture_output=True, text=True)
    assert recovered.returncode == 0, recovered.stderr
    _check(directory, run_id, reference, {})


def _prepared(directory: Path) -> Path:
    """`directory` with its files created, so that a child killed early has a store."""
    with killable.open_world(directory):
        pass
    return directory


def _child(
    forks: ForkServerContext,
    directory: Path,
    command: str,
    run_id: str | None = None,
    *,
    kill_at: str | None = None,
    kill_after: float | None = None,
) -> int:
    """Run `command` in a fresh process, which kills itself at `kill_at`, or which is
    killed `kill_after` seconds after it opened its files; returns its exit code."""
    ready = forks.Event()
    process = forks.Process(target=killable.run, args=(directory, command, run_id, kill_at, ready))
    process.start()
    if kill_after is not None:
        assert ready.wait(60), "the child did not open its files"
        process.join(kill_after)
        process.kill()
    process.join(60)
    assert process.exitcode is not None, "the child hung"
    return int(process.exitcode)


def _accepted(directory: Path, run_id: str) -> bool:
    with killable.open_world(directory) as world:
        return world.store.events.find(f"run_accepted:{run_id}") is not None


def _completed(directory: Path, run_id: str) -> dict[str, str]:
    """Each node recorded complete so far in the run, with its task id."""
    with killable.open_world(directory) as world:
        events = world.store.events.read_run(run_id)
    return {
        str(e.metadata["node"]): str(e.metadata["taskId"])
        for e in events
        if e.type == "node_completed"
    }


def _check(directory: Path, run_id: str, reference: Reference, done: dict[str, str]) -> None:
    with killable.open_world(directory) as world:
        run = world.runs.get(run_id)
        effects = world.ledger.effects(run_id)
        insights = world.store.entities.query("insight", limit=100).items
    assert run.status == "completed"
    assert run.values == reference.values
    # each node's effects happened once: in the ontology and outside it
    assert effects == ONCE
    mine = [e for e in insights if e.properties["run"] == run_id]
    assert Counter(str(e.properties["node"]) for e in mine) == ONCE
    generated = [e for e in run.events if e.type == "insight_generated"]
    assert Counter(str(e.metadata["node"]) for e in generated) == ONCE
    # each execution has one event of each kind; each node ran as one task
    executions: dict[str, Counter[str]] = defaultdict(Counter)
    tasks: dict[str, set[str]] = defaultdict(set)
    for e in run.events:
        if e.type.startswith("node_"):
            executions[str(e.metadata["taskId"])][e.type] += 1
            tasks[str(e.metadata["node"])].add(str(e.metadata["taskId"]))
    assert all(c == Counter(node_started=1, node_completed=1) for c in executions.values()), (
        executions
    )
    assert Counter({node: len(ids) for node, ids in tasks.items()}) == ONCE
    # a node recorded complete before a kill did not run again
    assert all(tasks[node] == {task} for node, task in done.items())
    kinds = [e.type for e in run.events]
    assert kinds[0] == "run_accepted" and kinds[-1] == "run_completed"
    assert kinds.count("run_accepted") == 1 and kinds.count("run_completed") == 1
