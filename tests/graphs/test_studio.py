"""`langgraph.json` lists every graph of `GRAPHS`, and each of its paths loads to that graph."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

from langgraph.graph.state import CompiledStateGraph

from graphs import GRAPHS

ROOT = Path(__file__).parents[2]
CONFIG = json.loads((ROOT / "langgraph.json").read_text())


def load(path: str) -> ModuleType:
    """A module by its file, as the LangGraph server loads it (not by its package name)."""
    spec = importlib.util.spec_from_file_location("studio_as_served", ROOT / path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_langgraph_json_lists_exactly_the_graphs_of_graphs() -> None:
    assert CONFIG["dependencies"] == ["."]
    assert sorted(CONFIG["graphs"]) == sorted(GRAPHS)


def test_every_path_loads_to_its_graph_compiled_without_a_checkpointer() -> None:
    for name, target in CONFIG["graphs"].items():
        path, variable = target.split(":")
        graph = getattr(load(path), variable)
        assert isinstance(graph, CompiledStateGraph)
        assert graph.name == name and graph.checkpointer is None
        assert set(graph.builder.nodes) == set(GRAPHS[name]().nodes)
        assert graph.get_graph().nodes  # Studio draws it
        # the server's schema endpoint fails (and Studio with it) on a context schema
        # that has no JSON schema, as Deps has none
        assert graph.get_context_jsonschema() is None
