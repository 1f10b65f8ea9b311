"""Every node execution is an ontology event, exactly once.

`recorded(graph, name, step)` turns a step `(state, call) -> update` into a LangGraph node
that writes `node_started` when it begins and `node_completed` or `node_failed` when it
ends: which graph, node, agent, creator, run and thread, with latency, tokens and cost.
Each event's idempotency key comes from the thread and LangGraph's task id, which stay
the same when a run is resumed from its checkpoint, so a replayed node writes nothing
twice; the step gets the same key (`call.key`) for its own effects. A run whose
durability is "exit" keeps its node events in its journal, written with its ending.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.errors import GraphBubbleUp
from langgraph.runtime import Runtime

from agents import Usage, agent_entity_id
from graphs._deps import Deps
from graphs._journal import Journal, journal_of
from ontology import Store
from ontology.errors import IdempotencyConflictError

Update = dict[str, Any]
CACHE = "one_run_cache"  # where the run's `Call.cache` is, in its config's "configurable"


@dataclass
class Call:
    """What a step knows about its execution, and what it reports back."""

    deps: Deps
    key: str  # stable across a resume: use it for the step's own idempotent effects
    run_id: str | None
    thread_id: str
    usage: list[Usage] = field(default_factory=list)
    status: str = "completed"  # a step that handled its own failure sets "failed"
    error: str | None = None
    # What the run's steps share in memory while one process drives it, e.g. an entity
    # they all read: never checkpointed, so a resumed run starts with it empty.
    cache: dict[str, Any] = field(default_factory=dict)


Step = Callable[[Mapping[str, Any], Call], Update]


def recorded(graph: str, name: str, step: Step, *, agent: str | None = None) -> Any:
    """The LangGraph node running `step`, recording its execution in the ontology."""

    def node(state: Mapping[str, Any], runtime: Runtime[Deps], config: RunnableConfig) -> Update:
        deps, info = runtime.context, runtime.execution_info
        if deps is None or info is None:
            raise RuntimeError(f"graph {graph!r} must be run with its Deps as context")
        thread = info.thread_id or "-"
        run_id = str(info.run_id) if info.run_id else None
        key = f"{graph}:{thread}:{info.task_id}"
        creator = str(state["creator_id"])
        actor = agent_entity_id(creator, agent) if agent else creator
        if agent:
            deps.registry.register_for(deps.store, creator, agent)
        cache = (config.get("configurable") or {}).get(CACHE)
        call = Call(deps, key, run_id, thread, cache=cache if isinstance(cache, dict) else {})
        about = {
            "graph": graph,
            "node": name,
            "agent": agent,
            "creatorId": creator,
            "runId": run_id,
            "threadId": thread,
            "taskId": info.task_id,
        }
        store, journal = deps.store, journal_of(config)
        (journal or store.events).append(
            "node_started",
            actor,
            None,
            {**about, "status": "started"},
            run_id=run_id,
            idempotency_key=f"node_started:{key}",
        )
        started = time.perf_counter()
        try:
            update = step(state, call)
        except GraphBubbleUp:  # an interrupt: the node is waiting, and ends when resumed
            raise
        except Exception as error:
            _finish(store, journal, actor, about, call, started, failed=str(error))
            raise
        _finish(store, journal, actor, about, call, started, failed=call.error)
        return update

    node.__name__ = name
    return node


def _finish(
    store: Store,
    journal: Journal | None,
    actor: str,
    about: dict[str, Any],
    call: Call,
    started: float,
    *,
    failed: str | None,
) -> None:
    status = "failed" if failed is not None else call.status
    kind = "node_failed" if status == "failed" else "node_completed"
    metadata = {
        **about,
        "status": status,
        "latencyMs": round((time.perf_counter() - started) * 1000, 3),
        "tokens": sum(u.input_tokens + u.output_tokens for u in call.usage),
        "costUsd": sum(u.cost_usd or 0.0 for u in call.usage),
    }
    if failed is not None:
        metadata["error"] = failed[:500]
    key = f"{kind}:{call.key}"
    if kind == "node_failed":  # a failed task runs again on resume: number its failures
        attempt = 1
        while store.events.find(f"{key}:{attempt}") is not None:
            attempt += 1
        key = f"{key}:{attempt}"
    if journal is not None:  # written with the run's ending (which settles a conflict)
        journal.append(kind, actor, None, metadata, run_id=call.run_id, idempotency_key=key)
        return
    # Recorded already, if a crash interrupted the execution after this (latencies differ).
    with contextlib.suppress(IdempotencyConflictError):
        store.events.append(kind, actor, None, metadata, run_id=call.run_id, idempotency_key=key)


def agent_step(
    agent: str,
    *,
    task: str | None = None,
    tolerate_failure: bool = False,
    tolerate_misfit: bool = False,
) -> Step:
    """A step that runs `agent` for the state's creator, idempotently by the node's key.

    With `tolerate_failure`, a failed agent (recorded as `agent_failed` by `run_agent`)
    marks the node failed and the run goes on; otherwise the failure stops the run. With
    `tolerate_misfit`, only a reply that never fitted the agent's output does (a weak
    model's), while a provider's failure stops the run, to be resumed.
    """
    from agents import AgentContext, run_agent
    from agents.errors import AgentsError, OutputParseError

    def step(state: Mapping[str, Any], call: Call) -> Update:
        deps = call.deps
        ctx = AgentContext(
            deps.store, str(state["creator_id"]), deps.registry, knowledge=deps.knowledge
        )
        try:
            run = run_agent(agent, ctx, deps.model, key=call.key, run_id=call.run_id, task=task)
        except AgentsError as error:
            misfit = tolerate_misfit and isinstance(error, OutputParseError)
            if not (tolerate_failure or misfit):
                raise
            call.status, call.error = "failed", f"{type(error).__name__}: {error}"
            return {"failed": [agent]}
        if run.usage is not None:
            call.usage.append(run.usage)
        return {"outputs": {agent: run.entity.id}}

    return step
