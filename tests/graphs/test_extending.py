"""A developer's agent and graph, installed as a package's entry points, run by ONE's
runtime exactly as ONE's own: found without editing ONE, recorded node by node,
checkpointed, resumable."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.messages import BaseMessage

from agents import AgentRegistry, Model, ScriptedChatModel
from agents.errors import AuthFailedError, ConfigurationError
from graphs import Deps, Runs, available, checkpointer
from tests.agents.conftest import World
from tests.agents.test_specs import SAMPLES
from tests.graphs import example_plugin
from tests.graphs.example_plugin import Shoutout


def install(root: Path, entry_points: str) -> None:
    """What `pip install` of a package declaring these entry points leaves on the path."""
    info = root / "one_example_plugin-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: one-example-plugin\nVersion: 0.1\n"
    )
    (info / "entry_points.txt").write_text(entry_points)


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install(
        tmp_path / "site",
        "[one.agents]\ncommunity_agent = tests.graphs.example_plugin:SPEC\n"
        "[one.graphs]\nweekly_community = tests.graphs.example_plugin:build\n",
    )
    monkeypatch.syspath_prepend(str(tmp_path / "site"))


def answers(*, community_fails: bool = False):  # type: ignore[no-untyped-def]
    def reply(messages: list[BaseMessage]) -> object:
        system = str(messages[0].content)
        if "community agent" in system:
            if community_fails:
                return AuthFailedError("bad key")
            return Shoutout(fans=["ada"], post="Thank you, Ada!")
        return SAMPLES["intelligence_agent"]

    return reply


def test_an_installed_agent_and_graph_are_found_and_run_like_one_s_own(
    plugin: None, world: World, tmp_path: Path
) -> None:
    graphs = available()
    registry = AgentRegistry.default()
    assert "weekly_community" in graphs and "launch_creator" in graphs
    assert "community_agent" in registry.names() and len(registry.names()) == 11
    model = Model(ScriptedChatModel(replies=[answers(), answers()]), name="scripted")
    deps = Deps(world.store, model, knowledge=world.knowledge, registry=registry)
    with checkpointer(f"sqlite:///{tmp_path / 'checkpoints.db'}") as saver:
        runs = Runs(deps, saver, {name: build() for name, build in graphs.items()})
        run = runs.start("weekly_community", {"creator_id": world.creator_id})
    assert run.status == "completed" and set(run.values["outputs"]) == {
        "intelligence_agent",
        "community_agent",
    }
    post = world.store.entities.get(run.values["outputs"]["community_agent"])
    assert (post.type, post.status, post.properties["fans"]) == ("social_post", "draft", ["ada"])
    kinds = [(e.type, e.metadata.get("node")) for e in run.events if e.type.startswith("node_")]
    assert kinds == [
        ("node_started", "intelligence"),
        ("node_completed", "intelligence"),
        ("node_started", "community"),
        ("node_completed", "community"),
    ]
    completed = world.store.events.timeline(type="agent_completed").items
    assert {e.metadata["agentType"] for e in completed} == {"intelligence_agent", "community_agent"}


def test_the_developer_graph_resumes_from_its_checkpoint_like_one_s_own(
    plugin: None, world: World, tmp_path: Path
) -> None:
    registry = AgentRegistry.default()
    failing = Model(ScriptedChatModel(replies=[answers(community_fails=True)] * 2), name="s")
    url = f"sqlite:///{tmp_path / 'checkpoints.db'}"
    graph = {"weekly_community": example_plugin.build()}
    with checkpointer(url) as saver:
        runs = Runs(
            Deps(world.store, failing, knowledge=world.knowledge, registry=registry), saver, graph
        )
        with pytest.raises(AuthFailedError):
            runs.start("weekly_community", {"creator_id": world.creator_id})
        (failed,) = runs.list()
    assert failed.status == "failed"
    good = Model(ScriptedChatModel(replies=[answers()]), name="scripted")  # one answer left
    with checkpointer(url) as saver:
        runs = Runs(
            Deps(world.store, good, knowledge=world.knowledge, registry=registry), saver, graph
        )
        done = runs.resume(failed.id)
    assert done.status == "completed"
    steps = [(e.type, e.metadata["node"]) for e in done.events if e.type.startswith("node_")]
    assert steps == [  # intelligence ran once; the same community task failed, then completed
        ("node_started", "intelligence"),
        ("node_completed", "intelligence"),
        ("node_started", "community"),
        ("node_failed", "community"),
        ("node_completed", "community"),
    ]


def test_a_plugin_that_is_not_what_it_claims_is_refused_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(
        tmp_path,
        "[one.agents]\nbroken = tests.graphs.example_plugin:NAME\n"
        "[one.graphs]\nlaunch_creator = tests.graphs.example_plugin:build\n",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigurationError, match="is a str, not an AgentSpec"):
        AgentRegistry.default()
    with pytest.raises(ConfigurationError, match="'launch_creator' takes a name in use"):
        available()
    assert "broken" not in AgentRegistry.default(plugins=False).names()


def test_a_plugin_that_does_not_import_is_named_in_the_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(tmp_path, "[one.graphs]\nweekly = tests.graphs.no_such_module:build\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigurationError, match=r"graph plugin weekly = tests\.graphs\.no_such"):
        available()
    assert "weekly" not in available(plugins=False)
