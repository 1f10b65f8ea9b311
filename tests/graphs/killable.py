"""A small graph whose runs are killed with SIGKILL at chosen points, in files several
processes share: the ontology, the checkpoints and an external ledger. Run as a script,
it is one process of the kill -9 tests:

    python -m tests.graphs.killable DIR start RUN_ID [--kill-at POINT]   start a run
    python -m tests.graphs.killable DIR recover [--kill-at POINT]        finish unfinished runs

The graph is `plan`, then `left` and `right` in parallel, then `join`, then `close`. Each
step has two effects keyed by its `call.key`: in the ontology an `insight` entity (its id
derived from the key) and an `insight_generated` event (idempotency key), and outside it a
delivery to the ledger, an external system that applies a key once and logs every call.

The process kills itself at POINT, one of:

    accepted              right after `run_accepted`, before the first checkpoint
    starting:NODE         as NODE's `node_started` is about to be appended
    before_effect:NODE    NODE's step has begun, no effect yet
    mid_effect:NODE       after NODE's ontology effect, before its delivery
    after_effect:NODE     after both effects, before `node_completed`
    completed:NODE        right after NODE's `node_completed`, before the step's checkpoint
    checkpointed:N        right after this process saved its Nth checkpoint (1 is the input's)
    finishing             the graph has ended, before `run_completed` is appended
"""

from __future__ import annotations

import argparse
import itertools
import operator
import os
import signal
import sqlite3
import sys
import uuid
from collections import Counter
from collections.abc import Collection, Iterator, Mapping
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypedDict

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph

from agents import Model, ScriptedChatModel
from graphs import Call, Deps, Runs, Step, checkpointer, recorded
from graphs._nodes import Update
from ontology import Event, Store
from ontology.errors import ConstraintViolationError

NAME = "killable"
NODES = ("plan", "left", "right", "join", "close")
POINTS = ("starting", "before_effect", "mid_effect", "after_effect", "completed")
CHECKPOINTS = 6  # an uninterrupted run saves the input's and one after each of 5 steps
CREATOR = "00000000-0000-4000-8000-0000000c1ab0"
INPUT = {"creator_id": CREATOR, "label": "spring"}
_IDS = uuid.UUID("6b1d8e52-2f1c-4a55-9f3e-0c1e4d3b7a10")


class KillableState(TypedDict, total=False):
    creator_id: str
    label: str
    trail: Annotated[list[str], operator.add]
    made: Annotated[dict[str, str], operator.or_]
    summary: str
    total: int


@dataclass(frozen=True)
class Kill:
    """Where this process kills itself (`None`: nowhere)."""

    point: str | None = None

    def at(self, point: str | None) -> None:
        if point is not None and point == self.point:
            os.kill(os.getpid(), signal.SIGKILL)


class Ledger:
    """An external system with idempotency keys: each key takes effect once, every call
    is logged. A connection per call, as parallel steps deliver from several threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with self._connect() as db:
            db.execute("CREATE TABLE IF NOT EXISTS calls (key TEXT, run TEXT, node TEXT)")
            db.execute(
                "CREATE TABLE IF NOT EXISTS effects (key TEXT PRIMARY KEY, run TEXT, node TEXT)"
            )

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self.path, timeout=30, isolation_level=None)) as db:
            yield db

    def deliver(self, key: str, run: str, node: str) -> None:
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            db.execute("INSERT INTO calls VALUES (?, ?, ?)", (key, run, node))
            db.execute("INSERT OR IGNORE INTO effects VALUES (?, ?, ?)", (key, run, node))
            db.execute("COMMIT")

    def effects(self, run: str) -> Counter[str]:
        """How many times each node's delivery took effect in `run`."""
        return self._count("effects", run)

    def calls(self, run: str) -> Counter[str]:
        """How many times each node called the ledger in `run` (a retry calls again)."""
        return self._count("calls", run)

    def _count(self, table: str, run: str) -> Counter[str]:
        with self._connect() as db:
            rows = db.execute(f"SELECT node FROM {table} WHERE run = ?", (run,)).fetchall()
        return Counter(node for (node,) in rows)


def _step(node: str, ledger: Ledger, kill: Kill, doomed: Collection[str]) -> Step:
    def step(state: Mapping[str, Any], call: Call) -> Update:
        kill.at(f"before_effect:{node}")
        store, run = call.deps.store, str(call.run_id)
        if run in doomed:
            raise RuntimeError(f"{node} cannot run for {run}: its provider is down")
        name = f"{node} of {state['label']}"
        id = str(uuid.uuid5(_IDS, call.key))
        if store.entities.find(id) is None:
            with suppress(ConstraintViolationError):  # created a moment ago: it happened
                store.entities.create("insight", name, {"node": node, "run": run}, id=id)
        store.events.append(
            "insight_generated",
            CREATOR,
            id,
            {"node": node},
            run_id=run,
            idempotency_key=f"insight:{call.key}",
        )
        kill.at(f"mid_effect:{node}")
        ledger.deliver(call.key, run, node)
        kill.at(f"after_effect:{node}")
        return {"trail": [node], "made": {node: name}, **_extra(node, state)}

    return step


def _extra(node: str, state: Mapping[str, Any]) -> Update:
    """What `join` and `close` compute from what came before them."""
    if node == "join":
        return {"summary": "+".join(f"{k}={v}" for k, v in sorted(state["made"].items()))}
    if node == "close":
        return {"total": len(state["trail"]) + 1}
    return {}


def build(
    ledger: Ledger, kill: Kill = Kill(), doomed: Collection[str] = ()
) -> StateGraph[Any, Deps, Any, Any]:
    """The killable graph; the runs in `doomed` fail at their first step."""
    graph: StateGraph[Any, Deps, Any, Any] = StateGraph(KillableState, context_schema=Deps)
    for node in NODES:
        graph.add_node(node, recorded(NAME, node, _step(node, ledger, kill, doomed)))
    graph.add_edge(START, "plan")
    graph.add_edge("plan", "left")
    graph.add_edge("plan", "right")
    graph.add_edge(["left", "right"], "join")
    graph.add_edge("join", "close")
    graph.add_edge("close", END)
    return graph


def _watch(store: Store, kill: Kill) -> None:
    """Kill this process as the graph runtime appends its events, where `kill` says."""
    append = store.events.append

    def watched(
        type: str, actor: str, target: str | None = None, metadata: Any = None, **kwargs: Any
    ) -> Event:
        node = (metadata or {}).get("node")
        kill.at({"node_started": f"starting:{node}", "run_completed": "finishing"}.get(type))
        event = append(type, actor, target, metadata, **kwargs)
        kill.at({"run_accepted": "accepted", "node_completed": f"completed:{node}"}.get(type))
        return event

    store.events.append = watched  # type: ignore[method-assign,assignment]


def _watch_checkpoints(saver: BaseCheckpointSaver[str], kill: Kill) -> None:
    """Kill this process right after it saved the checkpoint `kill` says."""
    put, saved = saver.put, itertools.count(1)

    def watched(*args: Any, **kwargs: Any) -> Any:
        config = put(*args, **kwargs)
        kill.at(f"checkpointed:{next(saved)}")
        return config

    saver.put = watched  # type: ignore[method-assign]


@dataclass
class World:
    runs: Runs
    store: Store
    ledger: Ledger


@contextmanager
def open_world(
    directory: Path, kill: Kill = Kill(), doomed: Collection[str] = ()
) -> Iterator[World]:
    """The killable graph's runs on the files in `directory`, set up the first time."""
    directory.mkdir(parents=True, exist_ok=True)
    ledger = Ledger(directory / "ledger.db")
    with Store.open(f"sqlite:///{directory / 'one.db'}", busy_timeout=60) as store:
        if store.entities.find(CREATOR) is None:
            store.entities.create("creator", "Maya", id=CREATOR)
        _watch(store, kill)
        model = Model(ScriptedChatModel(replies=[]), name="unused")
        with checkpointer(f"sqlite:///{directory / 'checkpoints.db'}") as saver:
            _watch_checkpoints(saver, kill)
            runs = Runs(Deps(store, model), saver, {NAME: build(ledger, kill, doomed)})
            yield World(runs, store, ledger)


def run(
    directory: Path,
    command: str,
    run_id: str | None = None,
    kill_at: str | None = None,
    ready: Any = None,
) -> None:
    """Start the run `run_id`, or recover every unfinished run, killed at `kill_at`.

    `ready` (an event shared with a parent process) is set once the files are open, just
    before the run: a parent that kills this process at a random time counts from there.
    """
    with open_world(directory, Kill(kill_at)) as world:
        if ready is not None:
            ready.set()
        if command == "start":
            world.runs.start(NAME, INPUT, run_id=run_id)
        elif command == "recover":
            world.runs.recover(graph=NAME)
        else:
            raise SystemExit(f"unknown command {command!r}: use start or recover")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.graphs.killable")
    parser.add_argument("directory", type=Path)
    parser.add_argument("command", choices=["start", "recover"])
    parser.add_argument("run_id", nargs="?")
    parser.add_argument("--kill-at", help="where to die (see above)")
    args = parser.parse_args(argv)
    run(args.directory, args.command, args.run_id, args.kill_at)


if __name__ == "__main__":
    main(sys.argv[1:])
