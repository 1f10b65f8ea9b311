"""Running an agent: read its inputs, ask the model for its output, record the result.

`run_agent` is what a graph node, the CLI and a schedule call. Given an idempotency `key`
(a graph derives it from its run and task), a run that was already recorded is returned
as recorded, without asking the model again: a resumed graph repeats nothing.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel

from agents._guard import Fence
from agents._model import Model
from agents._spec import AgentSpec
from agents._usage import Usage
from agents.errors import AgentsError
from agents.inputs import AgentContext
from agents.outputs import Recorder
from ontology import Entity, Event, Transaction

SECTION_CHARS = 2_400  # per input, so that a small model's context holds the prompt


@dataclass(frozen=True)
class AgentRun:
    """What one run of an agent produced.

    Attributes:
        output: the agent's output as recorded (figures it was given put back as computed).
        entity: the main entity it wrote (a report, a calendar); `created` has all of them.
        event: its `agent_completed` event.
        usage: the model call's usage; None when the run had been recorded before.
    """

    agent: str
    output: BaseModel
    entity: Entity
    created: tuple[Entity, ...]
    event: Event
    usage: Usage | None


def run_agent(
    agent: str | AgentSpec,
    ctx: AgentContext,
    model: Model,
    *,
    key: str | None = None,
    run_id: str | None = None,
    task: str | None = None,
) -> AgentRun:
    """Run `agent` for `ctx`'s creator and record what it made.

    Args:
        key: makes the run idempotent: a key already recorded returns that run.
        run_id: the graph run this is part of (stored on the event).
        task: an extra instruction for this run, added to the prompt.

    Raises:
        ConfigurationError: no such agent.
        AgentsError: the model failed (after retries) or never fitted the output; an
            `agent_failed` event records it and nothing else is written.
    """
    spec = agent if isinstance(agent, AgentSpec) else ctx.registry.get(agent)
    if isinstance(agent, AgentSpec):
        ctx.registry.register(spec)
    agent_entity = ctx.registry.register_for(ctx.store, ctx.creator_id, spec.name)
    key = key or f"{spec.name}:{uuid.uuid4()}"
    done = ctx.store.events.find(_completed_key(key))
    if done is not None:
        return _recorded(ctx, spec, done)
    facts = {i.title: data for i in spec.inputs if (data := i(ctx)) is not None}
    started = time.perf_counter()
    try:
        reply = model.invoke(
            prompt(spec, facts, task, today=ctx.now.date().isoformat()),
            output=spec.output,
            creator_id=ctx.creator_id,
            max_tokens=spec.max_tokens,
            temperature=spec.temperature,
        )
    except AgentsError as error:
        _failed(ctx, spec, agent_entity, error, time.perf_counter() - started, run_id, task)
        raise
    assert reply.parsed is not None
    return _record(ctx, spec, agent_entity, reply.parsed, reply.usage, facts, key, run_id, task)


def prompt(
    spec: AgentSpec, facts: dict[str, Any], task: str | None = None, *, today: str = ""
) -> list[BaseMessage]:
    """The messages an agent is sent: its instructions, then its inputs as fenced data."""
    fence = Fence()
    sections = [f"## {title}\n{fence.wrap(_compact(data), title)}" for title, data in facts.items()]
    ask = (f"Today is {today}. " if today else "") + (task or "Do your job for this creator now.")
    body = "\n\n".join([*sections, f"## task\n{ask}"])
    return [SystemMessage(f"{spec.system_prompt}\n\n{fence.rules()}"), HumanMessage(body)]


def _record(
    ctx: AgentContext,
    spec: AgentSpec,
    agent: Entity,
    output: BaseModel,
    usage: Usage,
    facts: dict[str, Any],
    key: str,
    run_id: str | None,
    task: str | None,
) -> AgentRun:
    with ctx.store.transaction() as tx:
        rec = Recorder(
            tx,
            creator_id=ctx.creator_id,
            agent_id=agent.id,
            agent=spec.name,
            key=key,
            facts=facts,
            now=ctx.now,
        )
        recorded = spec.writes(rec, output)
        assert rec.primary is not None, f"{spec.name}'s writer recorded nothing"
        event = tx.events.append(
            "agent_completed",
            agent.id,
            rec.primary.id,
            {
                **_execution(spec, usage.latency_s, run_id, task),
                "tokens": usage.input_tokens + usage.output_tokens,
                "costUsd": usage.cost_usd,
                "model": usage.model,
                "outputs": [e.id for e in rec.created],
            },
            run_id=run_id,
            idempotency_key=_completed_key(key),
        )
        _count(tx, agent.id, usage.latency_s, ok=True, output_id=rec.primary.id)
        created = tuple(tx.entities.get(e.id) for e in rec.created)  # as finally written
    primary = next(e for e in created if e.id == rec.primary.id)
    return AgentRun(spec.name, recorded, primary, created, event, usage)


def _recorded(ctx: AgentContext, spec: AgentSpec, event: Event) -> AgentRun:
    created = tuple(ctx.store.entities.get(i) for i in event.metadata.get("outputs", []))
    primary = ctx.store.entities.get(event.target_id or "")
    output = spec.output.model_validate(primary.properties.get("output", {}))
    return AgentRun(spec.name, output, primary, created, event, None)


def _failed(
    ctx: AgentContext,
    spec: AgentSpec,
    agent: Entity,
    error: AgentsError,
    seconds: float,
    run_id: str | None,
    task: str | None,
) -> None:
    with ctx.store.transaction() as tx:
        tx.events.append(
            "agent_failed",
            agent.id,
            None,
            {**_execution(spec, seconds, run_id, task), "error": str(error)[:500]},
            run_id=run_id,
        )
        _count(tx, agent.id, seconds, ok=False)


def _execution(
    spec: AgentSpec, seconds: float, run_id: str | None, task: str | None
) -> dict[str, Any]:
    return {"agentType": spec.name, "task": task, "runId": run_id, "durationMs": seconds * 1000}


def _count(
    tx: Transaction, agent_id: str, seconds: float, *, ok: bool, output_id: str = ""
) -> None:
    """Keep the agent entity's totals (reference §4's properties) up to date."""
    props = tx.entities.patch(agent_id).properties  # locks the row: concurrent runs queue
    runs, failures = int(props.get("totalExecutions", 0)) + 1, int(props.get("failures", 0))
    failures += 0 if ok else 1
    mean = float(props.get("averageExecutionTime", 0.0))
    update: dict[str, Any] = {
        "totalExecutions": runs,
        "failures": failures,
        "successRate": round((runs - failures) / runs, 4),
        "averageExecutionTime": round(mean + (seconds * 1000 - mean) / runs, 2),
    }
    if ok:
        update["lastOutputId"] = output_id
    tx.entities.patch(agent_id, update)


def _completed_key(key: str) -> str:
    return f"agent_completed:{key}"


def _compact(data: Any) -> str:
    """JSON within `SECTION_CHARS`: a list loses whole items from its end, anything else is cut."""
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False, default=str)
    if len(text) <= SECTION_CHARS:
        return text
    if isinstance(data, list):
        for n in range(len(data) - 1, 0, -1):
            shown = json.dumps(data[:n], ensure_ascii=False, default=str)
            if len(shown) <= SECTION_CHARS:
                return f"{shown}\n({len(data) - n} more not shown)"
    return text[:SECTION_CHARS] + " …(cut)"
