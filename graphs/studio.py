"""ONE's graphs for the LangGraph CLI and Studio: one compiled graph per entry of `GRAPHS`.

`langgraph.json` at the repository root names each graph as `./graphs/studio.py:NAME`;
the variables here are made from `GRAPHS`, so a graph added there appears here by
itself (and `tests/graphs/test_studio.py` fails until `langgraph.json` lists it too).
They are compiled without a checkpointer, since the LangGraph server brings its own, and
without their context schema: `Deps` holds live objects and has no JSON schema, and the
server's schema endpoint (which Studio calls to draw its forms) fails on a graph whose
context schema has none.

Studio shows each graph, its nodes and edges, and its input, output and state schemas.
Running one from Studio does not work, and cannot without a change to how nodes get
their dependencies: every node takes `Deps` (the ontology store, the model, the
providers) from LangGraph's runtime context, and the server and Studio only send context
as JSON (the run's or the assistant's `context`); a `Store` or a `Model` cannot come that
way, so a run fails at its first node. A graph factory (`ServerRuntime`) does not help:
it builds the graph, but the run's context is still the JSON. Run the graphs through
`graphs.Runs` (or `one` on the command line), which also records the run's own events.
"""

from __future__ import annotations

from typing import Any

from langgraph.graph.state import CompiledStateGraph, StateGraph

from graphs import GRAPHS


def compiled() -> dict[str, CompiledStateGraph[Any, Any, Any, Any]]:
    """Every graph of `GRAPHS`, compiled for the server, by name."""
    return {name: _for_server(name, build()) for name, build in GRAPHS.items()}


def _for_server(
    name: str, graph: StateGraph[Any, Any, Any, Any]
) -> CompiledStateGraph[Any, Any, Any, Any]:
    graph.context_schema = None  # Deps has no JSON schema: see the module docstring
    return graph.compile(name=name)


globals().update(compiled())
