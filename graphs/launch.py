"""Launch a creator (the seeds' `launchCreator`): register the ten agents in parallel, then
strategy writes the 90-day plan, then marketing the content calendar from its goals.

A plan or calendar the model could not shape into its output is recorded as failed
(`agent_failed`; the launch goes on and completes); a provider's failure stops the run,
to be resumed."""

from __future__ import annotations

import operator
from collections.abc import Mapping
from typing import Annotated, Any

from langgraph.graph import END, START, StateGraph
from langgraph.types import Send
from typing_extensions import TypedDict

from agents import AgentRegistry
from graphs._deps import Deps
from graphs._nodes import Call, Update, agent_step, recorded

NAME = "launch_creator"


class LaunchState(TypedDict, total=False):
    creator_id: str
    agent: str  # set on each registration branch
    registered: Annotated[list[str], operator.add]
    outputs: Annotated[dict[str, str], operator.or_]
    failed: Annotated[list[str], operator.add]


def _register(state: Mapping[str, Any], call: Call) -> Update:
    agent = str(state["agent"])
    call.deps.registry.register_for(call.deps.store, str(state["creator_id"]), agent)
    return {"registered": [agent]}


def _organise(state: Mapping[str, Any], call: Call) -> Update:
    """Link any `reports_to` that registrations in parallel transactions could not see."""
    call.deps.registry.link_reports(call.deps.store, str(state["creator_id"]))
    return {}


def _fan_out(state: LaunchState, registry: AgentRegistry) -> list[Send]:
    return [Send("register", {**state, "agent": name}) for name in registry.names()]


def build(registry: AgentRegistry | None = None) -> StateGraph[Any, Deps, Any, Any]:
    """The launch graph, over the agents of `registry` (ONE's ten by default)."""
    registry = registry or AgentRegistry.default()
    graph: StateGraph[Any, Deps, Any, Any] = StateGraph(LaunchState, context_schema=Deps)
    graph.add_node("register", recorded(NAME, "register", _register))
    graph.add_node("organise", recorded(NAME, "organise", _organise))
    graph.add_node(
        "strategy",
        recorded(
            NAME,
            "strategy",
            agent_step("strategy_agent", tolerate_misfit=True),
            agent="strategy_agent",
        ),
    )
    graph.add_node(
        "marketing",
        recorded(
            NAME,
            "marketing",
            agent_step(
                "marketing_agent",
                task="Plan the content calendar for the plan's goals.",
                tolerate_misfit=True,
            ),
            agent="marketing_agent",
        ),
    )
    graph.add_conditional_edges(START, lambda s: _fan_out(s, registry), ["register"])
    graph.add_edge("register", "organise")
    graph.add_edge("organise", "strategy")
    graph.add_edge("strategy", "marketing")
    graph.add_edge("marketing", END)
    return graph
