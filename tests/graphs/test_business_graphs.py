"""Launching a creator and a day of operations, recorded node by node, resumable."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.messages import BaseMessage

from agents import Model, ScriptedChatModel, agent_entity_id, pending_messages
from agents._builtin_agents import ServiceReplies
from agents.errors import AuthFailedError
from graphs import Deps, Runs, checkpointer, daily, launch
from tests.agents.conftest import World
from tests.agents.test_specs import SAMPLES


def by_agent(world: World, failing: set[str] = frozenset()):  # type: ignore[no-untyped-def,assignment]
    """Answers each agent with its sample output, whoever asks first (nodes run in parallel)."""

    def reply(messages: list[BaseMessage]) -> object:
        system = str(messages[0].content)
        for name, sample in SAMPLES.items():
            if f"You are the {name.removesuffix('_agent')} agent" in system:
                if name in failing:
                    return AuthFailedError("bad key")
                if name == "service_agent":
                    first = pending_messages(world.store, world.creator_id)[0]
                    return ServiceReplies.model_validate(
                        {"replies": [{"message_id": first.id, "reply": "Thank you!"}]}
                    )
                return sample
        raise AssertionError(f"no sample for: {system[:80]}")

    return reply


@pytest.fixture
def runs(world: World, tmp_path: Path) -> Iterator[Runs]:
    model = Model(ScriptedChatModel(replies=[by_agent(world)] * 50), name="scripted")
    deps = Deps(world.store, model, knowledge=world.knowledge, registry=world.registry)
    with checkpointer(f"sqlite:///{tmp_path / 'checkpoints.db'}") as saver:
        yield Runs(deps, saver, {launch.NAME: launch.build(), daily.NAME: daily.build()})


def node_events(world: World, run_id: str) -> list[tuple[str, str]]:
    return [
        (e.type, str(e.metadata["node"]))
        for e in world.store.events.read_run(run_id)
        if e.type.startswith("node_")
    ]


def test_launching_a_creator_registers_ten_agents_then_plans(world: World, runs: Runs) -> None:
    run = runs.start(launch.NAME, {"creator_id": world.creator_id})
    assert run.status == "completed"
    assert sorted(run.values["registered"]) == sorted(world.registry.names())
    assert set(run.values["outputs"]) == {"strategy_agent", "marketing_agent"}
    store, creator = world.store, world.creator_id
    strategy = agent_entity_id(creator, "strategy_agent")
    assert len(store.connections.query(to_id=strategy, type="reports_to").items) == 9
    events = node_events(world, run.id)
    assert events.count(("node_started", "register")) == 10
    assert events.count(("node_completed", "register")) == 10
    assert events[-4:] == [
        ("node_started", "strategy"),
        ("node_completed", "strategy"),
        ("node_started", "marketing"),
        ("node_completed", "marketing"),
    ]
    completed = [
        e for e in run.events if e.type == "node_completed" and e.metadata["node"] == "strategy"
    ]
    meta = completed[0].metadata
    assert meta["graph"] == "launch_creator" and meta["agent"] == "strategy_agent"
    assert meta["creatorId"] == creator and meta["runId"] == run.id and meta["tokens"] > 0
    assert meta["threadId"] == run.thread_id and meta["latencyMs"] > 0
    # the marketing agent planned from strategy's plan
    calendar = store.entities.get(run.values["outputs"]["marketing_agent"])
    assert calendar.type == "campaign"
    assert run.events[0].type == "run_accepted"
    assert [e.type for e in run.events][-1] == "run_completed"


def test_a_day_of_operations_keeps_the_work_of_agents_that_did_not_fail(
    world: World,
    tmp_path: Path,
) -> None:
    model = Model(
        ScriptedChatModel(replies=[by_agent(world, {"finance_agent"})] * 50),
        name="scripted",
        max_attempts=1,
    )
    deps = Deps(world.store, model, knowledge=world.knowledge, registry=world.registry)
    with checkpointer(f"sqlite:///{tmp_path / 'c.db'}") as saver:
        runs = Runs(deps, saver, {daily.NAME: daily.build()})
        run = runs.start(daily.NAME, {"creator_id": world.creator_id})
    assert run.status == "completed"
    assert set(run.values["outputs"]) == {
        "intelligence_agent",
        "marketing_agent",
        "design_agent",
        "service_agent",
    }
    assert run.values["failed"] == ["finance_agent"]
    failed = [e for e in run.events if e.type == "node_failed"]
    assert [e.metadata["node"] for e in failed] == ["finance"]
    assert "AuthFailedError" in str(failed[0].metadata["error"])
    agent_failed = world.store.events.timeline(type="agent_failed").items
    assert [e.actor_id for e in agent_failed] == [
        agent_entity_id(world.creator_id, "finance_agent")
    ]


def test_a_failed_run_resumes_without_repeating_finished_steps(
    world: World,
    tmp_path: Path,
) -> None:
    replies: list[object] = [by_agent(world)] * 10
    replies[0] = AuthFailedError("bad key")  # strategy fails once, after the registrations
    model = Model(ScriptedChatModel(replies=replies), name="scripted", max_attempts=1)
    deps = Deps(world.store, model, knowledge=world.knowledge, registry=world.registry)
    with checkpointer(f"sqlite:///{tmp_path / 'c.db'}") as saver:
        runs = Runs(deps, saver, {launch.NAME: launch.build()})
        with pytest.raises(AuthFailedError):
            runs.start(launch.NAME, {"creator_id": world.creator_id}, run_id="0" * 31 + "1")
        failed = runs.get("0" * 31 + "1")
        assert failed.status == "failed"
        done = runs.resume(failed.id)
    assert done.status == "completed"
    events = node_events(world, done.id)
    assert events.count(("node_completed", "register")) == 10  # not run again
    assert events.count(("node_failed", "strategy")) == 1
    assert events.count(("node_completed", "strategy")) == 1
    assert events.count(("node_started", "strategy")) == 1  # the same task, resumed
    assert len(model.chat.calls) == 3  # type: ignore[attr-defined]


def test_a_plan_the_model_cannot_shape_is_recorded_and_the_launch_goes_on(
    world: World, tmp_path: Path
) -> None:
    answer = by_agent(world)

    def reply(messages: list[BaseMessage]) -> object:
        if "You are the strategy agent" in str(messages[0].content):
            return "this is not a plan"  # every attempt of the strategy agent misfits
        return answer(messages)

    model = Model(ScriptedChatModel(replies=[reply] * 10), name="scripted", max_attempts=1)
    deps = Deps(world.store, model, knowledge=world.knowledge, registry=world.registry)
    with checkpointer(f"sqlite:///{tmp_path / 'c.db'}") as saver:
        runs = Runs(deps, saver, {launch.NAME: launch.build()})
        run = runs.start(launch.NAME, {"creator_id": world.creator_id})
    assert run.status == "completed"
    assert run.values["failed"] == ["strategy_agent"]
    assert "marketing_agent" in run.values["outputs"]
    failed = world.store.events.timeline(type="agent_failed").items
    [error] = [str(e.metadata["error"]) for e in failed]
    assert error.startswith("scripted's reply does not fit")
