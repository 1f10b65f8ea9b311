"""A day of operations (the seeds' `runDailyOperations`).

Intelligence analyses the day's events; then, in parallel, marketing plans content from
its insights, finance reports and service answers pending fan messages; design briefs
the assets once marketing has planned. A failing agent is recorded (`agent_failed`, and
its node `node_failed`) and the others' work goes on and is kept.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any

from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

from graphs._deps import Deps
from graphs._nodes import agent_step, recorded

NAME = "daily_operations"


class DailyState(TypedDict, total=False):
    creator_id: str
    outputs: Annotated[dict[str, str], operator.or_]
    failed: Annotated[list[str], operator.add]


def build() -> StateGraph[Any, Deps, Any, Any]:
    graph: StateGraph[Any, Deps, Any, Any] = StateGraph(DailyState, context_schema=Deps)
    steps = {
        "intelligence": "intelligence_agent",
        "marketing": "marketing_agent",
        "design": "design_agent",
        "finance": "finance_agent",
        "service": "service_agent",
    }
    for node, agent in steps.items():
        graph.add_node(
            node, recorded(NAME, node, agent_step(agent, tolerate_failure=True), agent=agent)
        )
    graph.add_edge(START, "intelligence")
    for node in ("marketing", "finance", "service"):
        graph.add_edge("intelligence", node)
    graph.add_edge("marketing", "design")
    graph.add_edge(["design", "finance", "service"], END)
    return graph
