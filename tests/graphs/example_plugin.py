"""A developer's extension of ONE, as their own package would ship it: a new agent and a new
graph that uses it with one of ONE's. Nothing in ONE is edited; the package declares them
as entry points (see `test_extending.py`, and the README):

    [project.entry-points."one.agents"]
    community_agent = "my_package.community:SPEC"
    [project.entry-points."one.graphs"]
    weekly_community = "my_package.community:build"
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Annotated, Any, TypedDict

from langgraph.graph import END, START, StateGraph
from pydantic import BaseModel, Field

from agents import AgentContext, AgentSpec
from agents.inputs import Profile
from agents.outputs import Recorder
from graphs import Deps, agent_step, recorded


class Shoutout(BaseModel):
    """The agent's structured output."""

    fans: list[str] = Field(description="handles of the fans to thank")
    post: str = Field(description="the shout-out post, under 280 characters")


@dataclass(frozen=True)
class ActiveFans:
    """An input: the fans who wrote to the creator (their handles)."""

    title: str = "fans who wrote in"

    def __call__(self, ctx: AgentContext) -> list[str]:
        messages = ctx.store.entities.query("message", owner=ctx.creator_id, limit=100).items
        authors = {
            c.from_id
            for m in messages
            for c in ctx.store.connections.query(to_id=m.id, type="authored").items
        }
        return sorted(ctx.store.entities.get(a).name for a in authors)


def write(rec: Recorder, output: BaseModel) -> BaseModel:
    """A writer: the shout-out as a draft social post the creator owns."""
    assert isinstance(output, Shoutout)
    rec.add(
        "social_post",
        "weekly shout-out",
        {"text": output.post, "fans": output.fans},
        status="draft",
    )
    return output


SPEC = AgentSpec(
    name="community_agent",
    role="community",
    system_prompt="You are the community agent. Thank the fans who wrote in this week.",
    output=Shoutout,
    inputs=(Profile(), ActiveFans()),
    writes=write,
)

NAME = "weekly_community"


class WeeklyState(TypedDict, total=False):
    creator_id: str
    outputs: Annotated[dict[str, str], operator.or_]
    failed: Annotated[list[str], operator.add]


def build() -> StateGraph[Any, Deps, Any, Any]:
    """ONE's intelligence agent, then the community agent; recorded like ONE's own."""
    graph: StateGraph[Any, Deps, Any, Any] = StateGraph(WeeklyState, context_schema=Deps)
    for node, agent in (("intelligence", "intelligence_agent"), ("community", SPEC.name)):
        graph.add_node(node, recorded(NAME, node, agent_step(agent), agent=agent))
    graph.add_edge(START, "intelligence")
    graph.add_edge("intelligence", "community")
    graph.add_edge("community", END)
    return graph
