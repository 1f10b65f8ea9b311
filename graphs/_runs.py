"""Starting, inspecting, resuming and cancelling graph runs, durably.

A run is accepted in the ontology (`run_accepted`, with its input) before the graph
starts, so a run killed before its first checkpoint is not lost: `recover()` finds runs
with no ending and resumes them from their checkpoint, or starts them again from their
input. A run's durability is chosen when it is started, and kept in `run_accepted`:

- `"sync"` (the default): each step is checkpointed before the next begins, so a resumed
  run repeats no finished step, and its task ids (the keys of the node events and of
  their effects) are the ones the interrupted run used. Node events are written as the
  nodes run.
- `"exit"`: one checkpoint, when the run ends (completed, failed or at a gate), and the
  node events written with the run's ending, in one transaction (`Journal`). For short
  interactive runs such as a chat turn: a run that a crash stopped is run again from its
  input, as if it had not begun, with new task ids; so its steps key their own effects by
  the run (`Call.run_id`), not by `Call.key`. One stopped in the moment between its
  checkpoint and its ending is run again from the checkpoint before it, so that its
  steps' events are written (`_where_it_stopped`; not a resumed attempt's: that one
  carries on from its checkpoint, and its steps' events are lost).

A run's ending event names its last checkpoint, so `Runs.get` shows a finished run's own
state even after later runs on its thread have moved the thread on.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import time
import uuid
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, get_args

from langgraph.checkpoint.base import BaseCheckpointSaver, CheckpointTuple
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph.state import CompiledStateGraph, StateGraph
from langgraph.types import Command, StateSnapshot

from graphs._deps import Deps
from graphs._journal import KEY, Journal
from graphs._nodes import CACHE
from ontology import Event, NewEvent, every
from ontology.errors import (
    ConstraintViolationError,
    IdempotencyConflictError,
    InvalidInputError,
    NotFoundError,
)

Status = Literal["accepted", "completed", "failed", "interrupted", "cancelled"]
Durability = Literal["sync", "exit"]
Driving = Generator[Any, None, "Run | None"]  # what a run streams; then the run, if driven
_UNFINISHED = frozenset({"accepted"})
THREAD_WAIT_SECONDS = 120.0  # how long a run waits for another on its thread to end
ABANDONED = "its stream's reader stopped before the end (a client went away); resume it"
# Drive a run from where it stopped (`Runs._where_it_stopped`): its last checkpoint, or
# its input if it never reached one.
_WHERE_IT_STOPPED: Any = object()
_ENDINGS = {
    "run_completed": "completed",
    "run_failed": "failed",
    "run_interrupted": "interrupted",
    "run_cancelled": "cancelled",
    "run_resumed": "accepted",
}


@dataclass(frozen=True)
class Run:
    """A run as ONE knows it: its graph, thread, status, state and pending interrupts."""

    id: str
    graph: str
    thread_id: str
    creator_id: str
    status: Status
    values: dict[str, Any]
    interrupts: tuple[Any, ...]
    events: tuple[Event, ...]


@dataclass(frozen=True)
class _Accepted:
    """What a run's `run_accepted` says about it."""

    run_id: str
    graph: str
    thread_id: str
    creator_id: str
    durability: Durability
    input: dict[str, Any]

    @classmethod
    def of(cls, event: Event) -> _Accepted:
        return cls(
            run_id=str(event.run_id),
            graph=str(event.metadata["graph"]),
            thread_id=str(event.metadata["threadId"]),
            creator_id=event.actor_id,
            durability=event.metadata.get("durability", "sync"),
            input=dict(event.metadata.get("input") or {}),
        )


class Runs:
    """Runs of the graphs given, on one checkpointer, with one set of dependencies."""

    def __init__(
        self,
        deps: Deps,
        saver: BaseCheckpointSaver[str],
        graphs: Mapping[str, StateGraph[Any, Deps, Any, Any]],
    ) -> None:
        self.deps, self.saver = deps, saver
        self._graphs = dict(graphs)
        self._compiled: dict[str, CompiledStateGraph[Any, Any, Any, Any]] = {}

    def compiled(self, graph: str) -> CompiledStateGraph[Any, Any, Any, Any]:
        if graph not in self._graphs:
            known = ", ".join(sorted(self._graphs))
            raise InvalidInputError("graph", f"no graph {graph!r}; known graphs: {known}")
        if graph not in self._compiled:
            self._compiled[graph] = self._graphs[graph].compile(checkpointer=self.saver)
        return self._compiled[graph]

    def start(
        self,
        graph: str,
        input: Mapping[str, Any],
        *,
        run_id: str | None = None,
        thread_id: str | None = None,
        trigger: Mapping[str, Any] | None = None,
        durability: Durability = "sync",
    ) -> Run:
        """Accept a run (recorded before anything else), then run it to its end or a gate.

        `run_id` makes starting idempotent: a run already accepted, by this caller or
        another at the same moment, is returned as it stands and not driven a second time
        (its driver finishes it; if that process died, `recover()` does). `trigger` says
        what started it (a schedule: `{"scheduleId": ..., "slot": ...}`); it is kept in
        `run_accepted`, whose target is the schedule. `durability`: see the module.

        Raises:
            InvalidInputError: an unknown graph, or a `run_id` used before with another input.
            NotFoundError: the input's creator does not exist.
        """
        accepted, fresh = self._accept(graph, input, run_id, thread_id, trigger, durability)
        if not fresh:
            return self.get(accepted.run_id)
        return self._drive(accepted, dict(input), expect=_UNFINISHED)

    def submit(
        self,
        graph: str,
        input: Mapping[str, Any],
        *,
        run_id: str | None = None,
        thread_id: str | None = None,
        trigger: Mapping[str, Any] | None = None,
        durability: Durability = "sync",
    ) -> tuple[str, bool]:
        """Accept a run without running it, for a worker to `drive`: its id, and whether
        this call accepted it (False: it already was, by this caller or another)."""
        accepted, fresh = self._accept(graph, input, run_id, thread_id, trigger, durability)
        return accepted.run_id, fresh

    def drive(self, run_id: str) -> Run:
        """Run an accepted run (or one a crash left unfinished): from its input if it
        never reached a checkpoint, else from its last one (see `_where_it_stopped`). A
        run being driven elsewhere right now, or no longer waiting to be driven, is
        returned as it stands."""
        accepted = self._accepted(_normal(run_id))
        return self._drive(accepted, _WHERE_IT_STOPPED, _UNFINISHED)

    def resume(self, run_id: str, value: Any = None) -> Run:
        """Carry on with a run: answer its pending interrupt with `value`, or, for a run
        that was stopped by a crash or a failure, continue from its last checkpoint."""
        run = self.get(run_id)
        if run.status == "cancelled":
            raise InvalidInputError("run", f"run {run_id} was cancelled; start a new one")
        if run.status == "completed":
            return run
        accepted = _Accepted.of(_acceptance(run.events))
        if run.interrupts:
            return self._drive(accepted, Command(resume=value))
        return self._drive(accepted, _WHERE_IT_STOPPED)

    def cancel(self, run_id: str) -> Run:
        """Stop a run for good: it will not be resumed or recovered."""
        run = self.get(run_id)
        if run.status not in ("completed", "cancelled"):
            self._end(_Accepted.of(_acceptance(run.events)), "run_cancelled")
        return self.get(run_id)

    def get(self, run_id: str) -> Run:
        """A run's status (from its events), its state and interrupts (from its checkpoint:
        for a finished run, the one it ended on)."""
        run_id = _normal(run_id)
        events = tuple(self.deps.store.events.read_run(run_id))
        if not any(e.type == "run_accepted" for e in events):
            raise NotFoundError("run", run_id)
        return self._run(events)

    def list(self, *, limit: int = 100) -> builtins.list[Run]:
        """The latest runs, newest first."""
        page = self.deps.store.events.timeline(type="run_accepted", newest_first=True, limit=limit)
        return [self.get(str(e.run_id)) for e in page.items if e.run_id]

    def recover(
        self, *, graph: str | None = None, retry_failed: bool = False
    ) -> builtins.list[Run]:
        """Finish every run a crash left without an ending (resume it from its checkpoint,
        or start it from its input if it never reached one: `_where_it_stopped`); with
        `retry_failed`, resume failed runs too. A run that fails again is returned as
        failed; the others go on.
        Call it when a process starts, before it takes new work. A run is driven by one
        process at a time (`Store.hold`): one another process is driving is left to it."""
        wanted = frozenset({"accepted", "failed"} if retry_failed else {"accepted"})
        kinds = [kind for kind, status in _ENDINGS.items() if status in wanted]
        left = self.deps.store.events.runs_ending_with(
            ["run_accepted", *kinds], among=["run_accepted", *_ENDINGS]
        )
        unfinished = [
            accepted
            for accepted in map(self._acceptance, left)
            if accepted is not None and (not graph or accepted.graph == graph)
        ]
        recovered = []
        for accepted in unfinished:
            try:
                recovered.append(self._drive(accepted, _WHERE_IT_STOPPED, wanted))
            except Exception:  # recorded (`run_failed`); the runs after it are still finished
                recovered.append(self.get(accepted.run_id))
        return recovered

    def prune(self, older_than: timedelta) -> int:
        """Delete the checkpoints of runs that ended more than `older_than` ago; their
        events stay. A thread that runs share (a chat's) keeps its latest checkpoint, where
        its next run carries on: the conversation is remembered. Returns how many threads
        were pruned."""
        cutoff = datetime.now(UTC) - older_than
        pruned: set[str] = set()
        for kind in ("run_completed", "run_cancelled", "run_failed"):
            ended = every(self.deps.store.events.timeline, type=kind, until=cutoff, limit=500)
            for event in ended:
                thread = str(event.metadata.get("threadId") or "")
                if not thread or thread in pruned:
                    continue
                if not self.saver.get_tuple({"configurable": {"thread_id": thread}}):
                    continue
                if thread == event.run_id:  # the run's own thread: nothing carries on from it
                    self.saver.delete_thread(thread)
                else:
                    self._keep_latest(thread)
                pruned.add(thread)
        return len(pruned)

    def _keep_latest(self, thread: str) -> None:
        """Delete all but the thread's latest checkpoint (and their pending writes)."""
        if isinstance(self.saver, SqliteSaver):  # it has no `prune` of its own
            with self.saver.cursor() as cursor:
                for table in ("writes", "checkpoints"):
                    cursor.execute(
                        f"DELETE FROM {table} WHERE thread_id = ? AND checkpoint_id < "
                        "(SELECT max(checkpoint_id) FROM checkpoints WHERE thread_id = ?)",
                        (thread, thread),
                    )
            return
        self.saver.prune([thread], strategy="keep_latest")

    def stream(
        self,
        graph: str,
        input: Mapping[str, Any],
        *,
        run_id: str | None = None,
        thread_id: str | None = None,
        durability: Durability = "sync",
    ) -> RunStream:
        """`start`, yielding what the nodes stream (`get_stream_writer()`) as they go;
        the stream's `run` is set once it has been read to the end."""
        accepted, fresh = self._accept(graph, input, run_id, thread_id, None, durability)
        if not fresh:
            return RunStream(_undriven(), lambda: self.get(accepted.run_id))
        driving = self._driving(accepted, dict(input), streaming=True, expect=_UNFINISHED)
        return RunStream(driving, lambda: self.get(accepted.run_id))

    # -- accepting ------------------------------------------------------------------

    def _accept(
        self,
        graph: str,
        input: Mapping[str, Any],
        run_id: str | None,
        thread_id: str | None,
        trigger: Mapping[str, Any] | None,
        durability: Durability,
    ) -> tuple[_Accepted, bool]:
        """Record `run_accepted` (before anything runs); False if it already was. The
        creator must exist: the event's actor is checked in the same write."""
        self.compiled(graph)
        if durability not in get_args(Durability):
            raise InvalidInputError("durability", f"must be one of {get_args(Durability)}")
        run_id = _normal(run_id) if run_id else str(uuid.uuid4())
        mine = uuid.uuid4().hex  # makes a concurrent twin's acceptance conflict with ours
        try:
            event = self.deps.store.events.append(
                "run_accepted",
                str(input.get("creator_id", "")),
                str(trigger["scheduleId"]) if trigger and "scheduleId" in trigger else None,
                {
                    "graph": graph,
                    "threadId": thread_id or run_id,
                    "input": dict(input),
                    "durability": durability,
                    "acceptedBy": mine,
                    **({"trigger": dict(trigger)} if trigger else {}),
                },
                run_id=run_id,
                idempotency_key=f"run_accepted:{run_id}",
            )
        except IdempotencyConflictError:  # accepted before, by this caller or another
            found = self.deps.store.events.find(f"run_accepted:{run_id}")
            assert found is not None
            event = found
        if event.metadata.get("acceptedBy") == mine:
            return _Accepted.of(event), True
        if event.metadata.get("input") != _plain(input) or event.metadata.get("graph") != graph:
            raise InvalidInputError(
                "run_id", f"run {run_id} was started with another input; use a new run id"
            )
        return _Accepted.of(event), False

    def _accepted(self, run_id: str) -> _Accepted:
        accepted = self._acceptance(run_id)
        if accepted is None:
            raise NotFoundError("run", run_id)
        return accepted

    def _acceptance(self, run_id: str) -> _Accepted | None:
        """What the run's `run_accepted` says, if `Runs` accepted it."""
        event = self.deps.store.events.find(f"run_accepted:{run_id}")
        return None if event is None else _Accepted.of(event)

    def _where_it_stopped(
        self, accepted: _Accepted, events: Sequence[Event]
    ) -> tuple[dict[str, Any] | None, str | None]:
        """Where a run driven again carries on: its input (None: carry on from the
        checkpoint) and the checkpoint to start from (None: the thread's latest).

        - The thread's latest checkpoint is not the run's (or there is none): from its
          input. (On a thread that runs share, a later run may have moved the thread on
          past this one's checkpoint; it is then run again on top of that later one.)
        - An exit run whose last attempt began from its input and whose checkpoint no
          ending names: the process stopped between writing the checkpoint and writing
          the ending, which carries the steps' events. That attempt is made again from
          the checkpoint before it, so that its steps are recorded, once.
        - Otherwise from its latest checkpoint (a failure's, or a gate's).
        """
        last = self.saver.get_tuple({"configurable": {"thread_id": accepted.thread_id}})
        if last is None or last.metadata.get("runId", accepted.run_id) != accepted.run_id:
            return dict(accepted.input), None
        redo = self._redo_from(accepted, events, last)
        return (None, None) if redo is None else (dict(accepted.input), redo or None)

    def _redo_from(
        self, accepted: _Accepted, events: Sequence[Event], last: CheckpointTuple
    ) -> str | None:
        """For `_where_it_stopped`: the checkpoint an exit run's unrecorded attempt began
        from ("": the thread's start), if its steps must be made again; else None."""
        named = {e.metadata.get("checkpointId") for e in events if e.type in _ENDINGS}
        if (
            accepted.durability != "exit"
            or _status(events) != "accepted"  # its latest checkpoint is its ending's
            or _checkpoint_id(last.config) in named
        ):
            return None
        if last.parent_config is None:  # the thread's first: it holds nothing else
            self.saver.delete_thread(accepted.thread_id)
            return ""
        before = self.saver.get_tuple(last.parent_config)
        if before is None or before.metadata.get("runId") == accepted.run_id:
            # Pruned meanwhile, or a resumed attempt (whose start, a gate's answer say,
            # cannot be made again): carry on from the latest, without those steps' events.
            return None
        return _checkpoint_id(last.parent_config)

    # -- driving --------------------------------------------------------------------

    def _drive(self, accepted: _Accepted, input: Any, expect: frozenset[str] | None = None) -> Run:
        driving = self._driving(accepted, input, streaming=False, expect=expect)
        while True:
            try:
                next(driving)
            except StopIteration as stop:
                return stop.value or self.get(accepted.run_id)

    def _driving(
        self, accepted: _Accepted, input: Any, *, streaming: bool, expect: frozenset[str] | None
    ) -> Driving:
        """Drive the run, if no other process is (`Store.hold`) and its status is one of
        `expect` (any, if None) once held; returns the run as it ended (None if not
        driven here)."""
        with self.deps.store.hold(f"drive:{accepted.run_id}") as mine:
            if not mine:
                return None
            with self._turn_on_thread(accepted):
                return (yield from self._driven(accepted, input, streaming, expect))

    @contextlib.contextmanager
    def _turn_on_thread(self, accepted: _Accepted) -> Iterator[None]:
        """Runs that share a thread (a chat's turns) run one at a time: two at once would
        both carry on from the same checkpoint, and one would drop out of the thread. A
        run waits outside the gate (`graphs._gate`): the one it waits for may be waiting
        to come back in."""
        if accepted.thread_id == accepted.run_id:
            yield
            return
        deadline = time.monotonic() + THREAD_WAIT_SECONDS
        while True:
            with self.deps.store.hold(f"thread:{accepted.thread_id}") as mine:
                if mine:
                    yield
                    return
            if time.monotonic() > deadline:
                raise ConstraintViolationError(
                    f"another run on thread {accepted.thread_id} has been running for over "
                    f"{THREAD_WAIT_SECONDS:g} s; run {accepted.run_id} waits, accepted: "
                    "resume it, or send the request again, later"
                )
            with self.deps.gate.outside():
                time.sleep(0.005)

    def _driven(
        self, accepted: _Accepted, input: Any, streaming: bool, expect: frozenset[str] | None
    ) -> Driving:
        events = self.deps.store.events.read_run(accepted.run_id)
        status = _status(events)
        if expect is not None and status not in expect:
            return None
        start_at: str | None = None  # a checkpoint to start from, not the thread's latest
        if input is _WHERE_IT_STOPPED:  # decided once held: another driver may have moved it
            input, start_at = self._where_it_stopped(accepted, events)
        if status != "accepted":  # running again: a crash from here on leaves it unfinished
            self._end(accepted, "run_resumed")
        journal = Journal() if accepted.durability == "exit" else None
        configurable: dict[str, Any] = {"thread_id": accepted.thread_id, CACHE: {}}
        if start_at is not None:
            configurable["checkpoint_id"] = start_at
        if journal is not None:
            configurable[KEY] = journal
        config: Any = {
            "configurable": configurable,
            "run_id": uuid.UUID(accepted.run_id),
            "metadata": {"runId": accepted.run_id},  # in its checkpoints: whose they are
        }
        graph = self.compiled(accepted.graph)
        options: Any = {"context": self.deps, "durability": accepted.durability}
        try:
            if streaming:
                yield from graph.stream(input, config, stream_mode="custom", **options)
            else:  # nobody reads a stream: no thread pool and waiter for it
                graph.invoke(input, config, **options)
        except (Exception, GeneratorExit) as error:
            # GeneratorExit: its stream's reader stopped reading (a client went away). The
            # run stops there too, failed, so that nothing carries it on unasked (`recover`
            # would, later, on a thread that other runs may have moved on).
            why = ABANDONED if isinstance(error, GeneratorExit) else str(error)[:500]
            named = self._own_latest_checkpoint(accepted) if journal is not None else {}
            self._end(accepted, "run_failed", journal, error=why, **named)
            raise
        snapshot = graph.get_state({"configurable": {"thread_id": accepted.thread_id}})
        ending = "run_interrupted" if snapshot.interrupts else "run_completed"
        checkpoint = _checkpoint_id(snapshot.config)
        self._end(accepted, ending, journal, checkpointId=checkpoint)
        return self._run(tuple(self.deps.store.events.read_run(accepted.run_id)), snapshot)

    def _own_latest_checkpoint(self, accepted: _Accepted) -> dict[str, str]:
        """`checkpointId`: the run's checkpoint its exit wrote, if it wrote one, for its
        ending to name (`_where_it_stopped`)."""
        last = self.saver.get_tuple({"configurable": {"thread_id": accepted.thread_id}})
        if last is None or last.metadata.get("runId") != accepted.run_id:
            return {}
        return {"checkpointId": _checkpoint_id(last.config)}

    def _end(
        self, accepted: _Accepted, kind: str, journal: Journal | None = None, **metadata: Any
    ) -> None:
        """Record the run's ending, with its journal's events before it, in one write."""
        events = self.deps.store.events
        about = {"graph": accepted.graph, **metadata, "threadId": accepted.thread_id}
        held = journal.events() if journal else []
        if not held:
            events.append(kind, accepted.creator_id, None, about, run_id=accepted.run_id)
            return
        ending = NewEvent(
            type=kind, actor_id=accepted.creator_id, metadata=about, run_id=accepted.run_id
        )
        try:
            events.append_many([*held, ending])
        except IdempotencyConflictError:
            # A node event recorded before (a resumed task's, with another latency): the
            # log keeps the first; the others and the ending are written.
            for event in held:
                with contextlib.suppress(IdempotencyConflictError):
                    events.append_many([event])
            events.append_many([ending])

    def _run(self, events: Sequence[Event], snapshot: StateSnapshot | None = None) -> Run:
        """The run its events tell of, with its state (`snapshot`, if already read)."""
        accepted = _Accepted.of(_acceptance(events))
        status = _status(events)
        if snapshot is None:
            config: dict[str, Any] = {"thread_id": accepted.thread_id}
            ending = next((e for e in reversed(events) if e.type in _ENDINGS), None)
            if status == "completed" and ending and ending.metadata.get("checkpointId"):
                # Its own end, not the thread's latest (later runs may have moved it on).
                config["checkpoint_id"] = ending.metadata["checkpointId"]
            snapshot = self.compiled(accepted.graph).get_state({"configurable": config})
        return Run(
            id=accepted.run_id,
            graph=accepted.graph,
            thread_id=accepted.thread_id,
            creator_id=accepted.creator_id,
            status=status,
            values=dict(snapshot.values or {}),
            interrupts=tuple(snapshot.interrupts),
            events=tuple(events),
        )


class RunStream:
    """What a run's nodes stream, as they stream it; then `run`, the run as it ended.
    Read it once, to the end: a run whose stream is closed half-read (`close()`, or
    dropped) stops there, failed (`ABANDONED`); `resume` finishes it."""

    def __init__(self, chunks: Driving, finish: Callable[[], Run]) -> None:
        self._chunks, self._finish = chunks, finish
        self.run: Run | None = None

    def __iter__(self) -> Iterator[Any]:
        ended = yield from self._chunks  # a Driving returns the run it drove
        self.run = ended if isinstance(ended, Run) else self._finish()


def _undriven() -> Driving:
    """Nothing streamed, and no run driven (another caller drives it)."""
    yield from ()
    return None


def _acceptance(events: Sequence[Event]) -> Event:
    return next(e for e in events if e.type == "run_accepted")


def _checkpoint_id(config: Any) -> str:
    return str(config["configurable"]["checkpoint_id"])


def _status(events: Sequence[Event]) -> Status:
    status: Status = "accepted"
    for event in events:
        if event.type in _ENDINGS:
            status = _ENDINGS[event.type]  # type: ignore[assignment]
    return status


def _plain(input: Mapping[str, Any]) -> Any:
    """The input as the event log stores it (JSON), to compare with what was accepted."""
    return json.loads(json.dumps(dict(input), default=str))


def _normal(run_id: str) -> str:
    try:
        return str(uuid.UUID(run_id))
    except ValueError:
        raise InvalidInputError("run_id", f"{run_id!r} is not a UUID") from None
