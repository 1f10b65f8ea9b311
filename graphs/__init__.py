"""LangGraph state graphs that coordinate the agents and the clone, durably.

Every node execution is written to the ontology exactly once (`recorded`); runs are
accepted in the ontology before they start and checkpointed after every step
(`Runs`, on a `checkpointer`), so a run killed at any point resumes where it stopped.
"""

from graphs import clone, daily, elevate, launch, purchase
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
}

__all__ = [
    "GRAPHS",
    "Call",
    "Deps",
    "Run",
    "RunStream",
    "Runs",
    "Step",
    "agent_step",
    "checkpointer",
    "clone",
    "daily",
    "default_url",
    "elevate",
    "launch",
    "purchase",
    "recorded",
]
