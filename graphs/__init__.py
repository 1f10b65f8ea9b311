"""LangGraph state graphs that coordinate the agents and the clone, durably.

Every node execution is written to the ontology exactly once (`recorded`); runs are
accepted in the ontology before they start and checkpointed after every step
(`Runs`, on a `checkpointer`), so a run killed at any point resumes where it stopped.
"""

from collections.abc import Callable
from typing import Any

from langgraph.graph import StateGraph

from agents import _plugins
from agents.errors import ConfigurationError
from graphs import agent, clone, daily, elevate, launch, purchase
from graphs._checkpoint import checkpointer, default_url
from graphs._deps import Deps
from graphs._nodes import Call, Step, agent_step, recorded
from graphs._runs import Run, Runs, RunStream

GRAPHS = {
    clone.BUILD: clone.build_graph,
    clone.CHAT: clone.chat_graph,
    launch.NAME: launch.build,
    daily.NAME: daily.build,
    elevate.NAME: elevate.build,
    purchase.NAME: purchase.build,
    agent.NAME: agent.build,
}

Builder = Callable[[], StateGraph[Any, Deps, Any, Any]]


def available(*, plugins: bool = True) -> dict[str, Builder]:
    """ONE's graphs, and those installed packages declare as entry points in the group
    `one.graphs` (each naming a function that builds a `StateGraph`), by name.

    Raises:
        ConfigurationError: a plugin that does not load, or takes a name already used.
    """
    found: dict[str, Builder] = dict(GRAPHS)
    for entry, builder in _plugins.plugins("one.graphs", "graph") if plugins else ():
        if entry.name in found:
            raise ConfigurationError(f"the graph plugin {entry.name!r} takes a name in use")
        if not callable(builder):
            raise ConfigurationError(f"the graph plugin {entry.name} is not a builder function")
        found[entry.name] = builder
    return found


__all__ = [
    "GRAPHS",
    "Builder",
    "Call",
    "Deps",
    "Run",
    "RunStream",
    "Runs",
    "Step",
    "agent",
    "agent_step",
    "available",
    "checkpointer",
    "clone",
    "daily",
    "default_url",
    "elevate",
    "launch",
    "purchase",
    "recorded",
]
