"""Starting, inspecting, resuming and cancelling graph runs, durably.

A run is accepted in the ontology (`run_accepted`, with its input) before the graph
starts, so a run killed before its first checkpoint is not lost: `recover()` finds runs
with no ending and resumes them from their checkpoint, or starts them again from their
input. Every run executes with `durability="sync"`: each step is checkpointed before the
next begins, so a resumed run repeats no finished step and its task ids (the keys of the
node events and of their effects) are the ones the interrupted run used.
"""

from __future__ import annotations

import builtins
import json
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph, StateGraph
from langgraph.types import Command

from graphs._deps import Deps
from ontology import Event, every
from ontology.errors import IdempotencyConflictError, InvalidInputError, NotFoundError

Status = Literal["accepted", "completed", "failed", "interrupted", "cancelled"]
_UNFINISHED = frozenset({"accepted"})
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
    ) -> Run:
        """Accept a run (recorded before anything else), then run it to its end or a gate.

        `run_id` makes starting idempotent: a run already accepted, by this caller or
        another at the same moment, is returned as it stands and not driven a second time
        (its driver finishes it; if that process died, `recover()` does). `trigger` says
        what started it (a schedule: `{"scheduleId": ..., "slot": ...}`); it is kept in
        `run_accepted`, whose target is the schedule.

        Raises:
            InvalidInputError: an unknown graph, or a `run_id` used before with another input.
            NotFoundError: the input's creator does not exist.
        """
        run_id, fresh = self._accept(graph, input, run_id, thread_id, trigger)
        return self._drive(run_id, dict(input)) if fresh else self.get(run_id)

    def submit(
        self,
        graph: str,
        input: Mapping[str, Any],
        *,
        run_id: str | None = None,
        thread_id: str | None = None,
        trigger: Mapping[str, Any] | None = None,
    ) -> tuple[str, bool]:
        """Accept a run without running it, for a worker to `drive`: its id, and whether
        this call accepted it (False: it already was, by this caller or another)."""
        return self._accept(graph, input, run_id, thread_id, trigger)

    def drive(self, run_id: str) -> Run:
        """Run an accepted run (or one a crash left unfinished): from its input if it
        never reached a checkpoint, else from its last one. A run being driven elsewhere
        right now, or no longer waiting to be driven, is returned as it stands."""
        return self._drive(run_id, self._input_if_never_checkpointed(run_id), expect=_UNFINISHED)

    def resume(self, run_id: str, value: Any = None) -> Run:
        """Carry on with a run: answer its pending interrupt with `value`, or, for a run
        that was stopped by a crash or a failure, continue from its last checkpoint."""
        run = self.get(run_id)
        if run.status == "cancelled":
            raise InvalidInputError("run", f"run {run_id} was cancelled; start a new one")
        if run.status == "completed":
            return run
        return self._drive(run_id, Command(resume=value) if run.interrupts else None)

    def cancel(self, run_id: str) -> Run:
        """Stop a run for good: it will not be resumed or recovered."""
        run = self.get(run_id)
        if run.status not in ("completed", "cancelled"):
            self._end(run, "run_cancelled")
        return self.get(run_id)

    def get(self, run_id: str) -> Run:
        """A run's status (from its events), its state and interrupts (from its checkpoint)."""
        run_id = _normal(run_id)
        events = tuple(self.deps.store.events.read_run(run_id))
        accepted = next((e for e in events if e.type == "run_accepted"), None)
        if accepted is None:
            raise NotFoundError("run", run_id)
        graph, thread = str(accepted.metadata["graph"]), str(accepted.metadata["threadId"])
        status: Status = "accepted"
        for event in events:
            if event.type in _ENDINGS:
                status = _ENDINGS[event.type]  # type: ignore[assignment]
        snapshot = self.compiled(graph).get_state({"configurable": {"thread_id": thread}})
        return Run(
            id=run_id,
            graph=graph,
            thread_id=thread,
            creator_id=accepted.actor_id,
            status=status,
            values=dict(snapshot.values or {}),
            interrupts=tuple(snapshot.interrupts),
            events=events,
        )

    def list(self, *, limit: int = 100) -> builtins.list[Run]:
        """The latest runs, newest first."""
        page = self.deps.store.events.timeline(type="run_accepted", newest_first=True, limit=limit)
        return [self.get(str(e.run_id)) for e in page.items if e.run_id]

    def recover(
        self, *, graph: str | None = None, retry_failed: bool = False
    ) -> builtins.list[Run]:
        """Finish every run a crash left without an ending (resume it from its checkpoint,
        or start it from its input if it never reached one); with `retry_failed`, resume
        failed runs too. A run that fails again is returned as failed; the others go on.
        Call it when a process starts, before it takes new work. A run is driven by one
        process at a time (`Store.hold`): one another process is driving is left to it."""
        wanted = {"accepted", "failed"} if retry_failed else {"accepted"}
        accepted = every(self.deps.store.events.timeline, type="run_accepted", limit=500)
        unfinished = [
            event.run_id
            for event in accepted
            if event.run_id
            and (not graph or event.metadata.get("graph") == graph)
            and self.get(event.run_id).status in wanted
        ]
        recovered = []
        for run_id in unfinished:
            try:
                input = self._input_if_never_checkpointed(run_id)
                recovered.append(self._drive(run_id, input, expect=frozenset(wanted)))
            except Exception:  # recorded (`run_failed`); the runs after it are still finished
                recovered.append(self.get(run_id))
        return recovered

    def prune(self, older_than: timedelta) -> int:
        """Delete the checkpoints of runs that ended more than `older_than` ago; their
        events stay. Returns how many threads were deleted."""
        cutoff = datetime.now(UTC) - older_than
        deleted = 0
        for kind in ("run_completed", "run_cancelled", "run_failed"):
            ended = every(self.deps.store.events.timeline, type=kind, until=cutoff, limit=500)
            for event in ended:
                thread = event.metadata.get("threadId")
                if thread and self.saver.get_tuple({"configurable": {"thread_id": thread}}):
                    self.saver.delete_thread(str(thread))
                    deleted += 1
        return deleted

    def _input_if_never_checkpointed(self, run_id: str) -> dict[str, Any] | None:
        run = self.get(run_id)
        has = self.saver.get_tuple({"configurable": {"thread_id": run.thread_id}})
        if has is not None:
            return None
        accepted = next(e for e in run.events if e.type == "run_accepted")
        return dict(accepted.metadata["input"])

    def stream(
        self,
        graph: str,
        input: Mapping[str, Any],
        *,
        run_id: str | None = None,
        thread_id: str | None = None,
    ) -> RunStream:
        """`start`, yielding what the nodes stream (`get_stream_writer()`) as they go;
        the stream's `run` is set once it has been read to the end."""
        run_id, fresh = self._accept(graph, input, run_id, thread_id, None)
        if not fresh:
            return RunStream(iter(()), lambda: self.get(run_id))
        return RunStream(self._driving(run_id, dict(input)), lambda: self.get(run_id))

    def _accept(
        self,
        graph: str,
        input: Mapping[str, Any],
        run_id: str | None,
        thread_id: str | None,
        trigger: Mapping[str, Any] | None,
    ) -> tuple[str, bool]:
        """Record `run_accepted` (before anything runs); False if it already was."""
        self.compiled(graph)
        creator = str(input.get("creator_id", ""))
        self.deps.store.entities.get(creator)  # a clear NotFoundError before anything runs
        run_id = _normal(run_id) if run_id else str(uuid.uuid4())
        accepted = self.deps.store.events.find(f"run_accepted:{run_id}")
        if accepted is None:
            try:
                self.deps.store.events.append(
                    "run_accepted",
                    creator,
                    str(trigger["scheduleId"]) if trigger and "scheduleId" in trigger else None,
                    {
                        "graph": graph,
                        "threadId": thread_id or run_id,
                        "input": dict(input),
                        "acceptedBy": uuid.uuid4().hex,  # makes a concurrent twin conflict
                        **({"trigger": dict(trigger)} if trigger else {}),
                    },
                    run_id=run_id,
                    idempotency_key=f"run_accepted:{run_id}",
                )
                return run_id, True
            except IdempotencyConflictError:  # another caller accepted it a moment ago
                found = self.deps.store.events.find(f"run_accepted:{run_id}")
                assert found is not None
                accepted = found
        if (
            accepted.metadata.get("input") != _plain(input)
            or accepted.metadata.get("graph") != graph
        ):
            raise InvalidInputError(
                "run_id", f"run {run_id} was started with another input; use a new run id"
            )
        return run_id, False

    def _drive(self, run_id: str, input: Any, *, expect: frozenset[str] | None = None) -> Run:
        for _ in self._driving(run_id, input, streaming=False, expect=expect):
            pass
        return self.get(run_id)

    def _driving(
        self,
        run_id: str,
        input: Any,
        *,
        streaming: bool = True,
        expect: frozenset[str] | None = None,
    ) -> Iterator[Any]:
        """Drive the run, if no other process is (`Store.hold`) and its status is one of
        `expect` (any, if None) once held."""
        with self.deps.store.hold(f"drive:{run_id}") as mine:
            if mine:
                yield from self._driven(run_id, input, streaming, expect)

    def _driven(
        self, run_id: str, input: Any, streaming: bool, expect: frozenset[str] | None
    ) -> Iterator[Any]:
        run = self.get(run_id)
        if expect is not None and run.status not in expect:
            return
        if run.status != "accepted":  # running again: a crash from here on leaves it unfinished
            self._end(run, "run_resumed")
        config: Any = {"configurable": {"thread_id": run.thread_id}, "run_id": uuid.UUID(run_id)}
        graph = self.compiled(run.graph)
        try:
            if streaming:
                yield from graph.stream(
                    input, config, context=self.deps, durability="sync", stream_mode="custom"
                )
            else:  # nobody reads a stream: no thread pool and waiter for it
                graph.invoke(input, config, context=self.deps, durability="sync")
        except Exception as error:
            self._end(run, "run_failed", error=str(error)[:500])
            raise
        waiting = graph.get_state({"configurable": {"thread_id": run.thread_id}}).interrupts
        self._end(run, "run_interrupted" if waiting else "run_completed")

    def _end(self, run: Run, kind: str, **metadata: Any) -> None:
        self.deps.store.events.append(
            kind,
            run.creator_id,
            None,
            {"graph": run.graph, **metadata, "threadId": run.thread_id},
            run_id=run.id,
        )


class RunStream:
    """What a run's nodes stream, as they stream it; then `run`, the run as it ended.
    Read it once, to the end (a run left half-read stops where it was; resume it)."""

    def __init__(self, chunks: Iterator[Any], finish: Callable[[], Run]) -> None:
        self._chunks, self._finish = chunks, finish
        self.run: Run | None = None

    def __iter__(self) -> Iterator[Any]:
        yield from self._chunks
        self.run = self._finish()


def _plain(input: Mapping[str, Any]) -> Any:
    """The input as the event log stores it (JSON), to compare with what was accepted."""
    return json.loads(json.dumps(dict(input), default=str))


def _normal(run_id: str) -> str:
    try:
        return str(uuid.UUID(run_id))
    except ValueError:
        raise InvalidInputError("run_id", f"{run_id!r} is not a UUID") from None
