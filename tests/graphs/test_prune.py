"""`Runs.prune` on both checkpointers: a run's own thread is deleted whole; a thread that
runs share keeps its latest checkpoint, where the next run carries on."""

from __future__ import annotations

import operator
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph

from agents import Model, ScriptedChatModel
from graphs import Call, Deps, Runs, checkpointer, recorded
from ontology import Store
from tests.servers import Postgres


class Tally(TypedDict, total=False):
    creator_id: str
    seen: Annotated[list[str], operator.add]
    word: str


def _note(state: Mapping[str, Any], call: Call) -> dict[str, Any]:
    return {"seen": [str(state["word"])]}


def _graph() -> StateGraph[Any, Deps, Any, Any]:
    graph: StateGraph[Any, Deps, Any, Any] = StateGraph(Tally, context_schema=Deps)
    graph.add_node("note", recorded("tally", "note", _note))
    graph.add_edge(START, "note")
    graph.add_edge("note", END)
    return graph


@contextmanager
def _runs(url: str) -> Iterator[Runs]:
    model = Model(ScriptedChatModel(replies=[]), name="unused")
    with Store.open(url) as store, checkpointer(url) as saver:
        yield Runs(Deps(store, model), saver, {"tally": _graph()})


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'one.db'}"
    server: Postgres = request.getfixturevalue("pg_server")
    return server.new_database()


def test_prune_keeps_a_shared_thread_s_latest_checkpoint(url: str) -> None:
    with _runs(url) as runs:
        creator = runs.deps.store.entities.create("creator", "Maya").id
        shared = str(uuid.uuid4())
        for word in ("one", "two"):
            runs.start("tally", {"creator_id": creator, "word": word}, thread_id=shared)
        own = runs.start("tally", {"creator_id": creator, "word": "alone"})
        time.sleep(0.01)  # ended before the cutoff, not in its millisecond
        assert runs.prune(older_than=timedelta(0)) == 2
        config: RunnableConfig = {"configurable": {"thread_id": shared}}
        assert len(list(runs.saver.list(config))) == 1
        assert runs.saver.get_tuple({"configurable": {"thread_id": own.thread_id}}) is None
        three = runs.start("tally", {"creator_id": creator, "word": "three"}, thread_id=shared)
        assert three.values["seen"] == ["one", "two", "three"]
        assert runs.get(own.id).status == "completed"  # the events stay
