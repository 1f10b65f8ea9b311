"""One agent's run for a creator (`one agents run AGENT`, and agent schedules): the
agent named in the input, with an optional task, as a durable run like any other."""

from __future__ import annotations

import operator
from collections.abc import Mapping
from typing import Annotated, Any

from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

from graphs._deps import Deps
from graphs._nodes import Call, Update, agent_step, recorded

NAME = "agent_run"


class AgentState(TypedDict, total=False):
    creator_id: str
    agent: str
    task: str | None
    outputs: Annotated[dict[str, str], operator.or_]
    failed: Annotated[list[str], operator.add]


def _run(state: Mapping[str, Any], call: Call) -> Update:
    agent = str(state["agent"])
    call.deps.registry.get(agent)  # an unknown agent: a clear error naming the known ones
    return agent_step(agent, task=state.get("task"))(state, call)


def build() -> StateGraph[Any, Deps, Any, Any]:
    graph: StateGraph[Any, Deps, Any, Any] = StateGraph(AgentState, context_schema=Deps)
    graph.add_node("agent", recorded(NAME, "agent", _run))
    graph.add_edge(START, "agent")
    graph.add_edge("agent", END)
    return graph
