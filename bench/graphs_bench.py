"""The graph runtime's cost: a chain of ONE's ten agents run through ONE (`Runs.start`,
`recorded` nodes running `agent_step`), against the same chain in bare LangGraph, with the
same instant fake model, in the same run.

Both sides run the same topology (START -> the ten agents of `AgentRegistry.default()` in
its order -> END) on a `SqliteSaver` checkpointer file opened by `graphs.checkpointer`,
with `durability="sync"` and `Deps` as the runtime context, and every node does the same
agent work: `agents.run_agent` (register the agent for the creator if needed, read its
inputs from the ontology, call the scripted model, validate and record its output) on
the same ontology store. What is timed, per run, divided by the ten nodes:

- ONE: `Runs.start`, that is the `run_accepted` event, the run's status and state read
  back (`Runs.get`) before and after, `run_completed`, the graph driven the way `Runs`
  drives it (today `stream(stream_mode="custom")`, with which LangGraph runs each node
  on its thread pool), and per node `recorded`'s work: the agent registration check,
  `node_started`, and the `node_completed` lookup and append; plus `agent_step`'s
  context and key. The agents that read the creator's recent events (intelligence,
  engineering, finance, sales) also see, and scan, the node events ONE wrote earlier in
  the run: part of ONE's cost.
- bare: `CompiledStateGraph.invoke` with nodes calling `run_agent` directly (a random
  idempotency key, no run id), and nothing else.

Each run has a creator of its own, fresh (profile and five pending fan messages), so both
sides register the ten agents inside the run. Runs are grouped in rounds; a round copies a
prepared ontology file (so stores do not grow across the whole benchmark: agents that scan
the day's events would slow down as it went) and opens a checkpointer file of its own,
then alternates ONE and bare runs, each side first in turn. Graphs are compiled before
timing. The scripted model answers at once: the agent work is as small as it gets, so the
ratio is the runtime's worst case; with a real model the overhead in milliseconds stays
and the ratio approaches 1.
"""

from __future__ import annotations

import json
import operator
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypedDict

from langchain_core.messages import BaseMessage
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from agents import (
    AgentContext,
    AgentRegistry,
    Model,
    ScriptedChatModel,
    receive_message,
    run_agent,
)
from bench._report import Figure, progress, report
from graphs import Deps, Runs, agent_step, checkpointer, recorded
from ontology import Store

SAMPLE = Path(__file__).parents[1] / "one" / "_samples" / "maya"
GRAPH = "ten_agents"
GOAL = 1.25

# A valid output for each agent, as the model would send it (the service agent answers
# no message, so every run finds the same five pending).
ANSWERS: dict[str, dict[str, Any]] = {
    "strategy_agent": {
        "goals": ["Reach 2,000 members"],
        "okrs": [{"objective": "Grow the membership", "key_results": ["3 videos a week"]}],
        "milestones": [{"week": 4, "goal": "Launch the pasta course"}],
    },
    "research_agent": {"findings": [{"claim": "Budget meals trend", "evidence": "+40%"}]},
    "marketing_agent": {
        "items": [{"day": "2026-12-01", "channel": "youtube", "format": "video", "topic": "Knives"}]
    },
    "sales_agent": {
        "stages": [{"name": "free guide", "offer": "pantry list", "conversion_goal_percent": 20}]
    },
    "service_agent": {"replies": []},
    "design_agent": {
        "briefs": [{"for_topic": "Knives", "asset": "thumbnail", "notes": "claw grip"}]
    },
    "engineering_agent": {
        "proposals": [{"task": "triage", "how": "label messages", "hours_saved_per_week": 2}]
    },
    "finance_agent": {"revenue_usd": 120.0, "costs_usd": 20.0, "net_usd": 100.0},
    "legal_agent": {"checks": [{"item": "privacy policy", "status": "ok"}]},
    "intelligence_agent": {"insights": ["Tuesday videos do best"], "metrics": []},
}


@dataclass(frozen=True)
class Scale:
    rounds: int
    pairs: int  # ONE and bare runs per round, each
    warmup: int  # pairs per round left out of the figures


FULL = Scale(rounds=50, pairs=5, warmup=1)
QUICK = Scale(rounds=3, pairs=3, warmup=1)


class ChainState(TypedDict, total=False):
    creator_id: str
    outputs: Annotated[dict[str, str], operator.or_]


def runtime_overhead(quick: bool) -> dict[str, Any]:
    """Per-node time of ONE's runtime and of bare LangGraph, medians over the runs."""
    scale = QUICK if quick else FULL
    registry = AgentRegistry.default()
    times = _measure(scale, registry)
    one, bare = (statistics.median(times[side]) * 1000 for side in ("one", "bare"))
    ratio = one / bare
    return report(
        f"Graph runtime, a chain of {len(registry.names())} agents, instant fake model, "
        f"{len(times['one'])} runs a side",
        [
            Figure("one_per_node_ms", "ONE per node (Runs.start, recorded)", one, "ms"),
            Figure("bare_per_node_ms", "bare LangGraph per node", bare, "ms"),
            Figure("ratio", "ONE / bare", ratio, "x", goal=f"<= {GOAL}", met=ratio <= GOAL),
            Figure("overhead_per_node_ms", "ONE's overhead per node", one - bare, "ms"),
        ],
    )


def _measure(scale: Scale, registry: AgentRegistry) -> dict[str, list[float]]:
    """Seconds per node of every run after the warm-up, by side."""
    chat = ScriptedChatModel(replies=[])
    model, answer, nodes = Model(chat, name="scripted"), _answer(registry), len(registry.names())
    times: dict[str, list[float]] = {"one": [], "bare": []}
    with tempfile.TemporaryDirectory(prefix="one-bench-") as tmp:
        template = _template(Path(tmp), 2 * scale.pairs)
        for round_ in range(scale.rounds):
            progress.print(f"graphs: round {round_ + 1}/{scale.rounds}", end="\r")
            with _round(Path(tmp), template, round_, model, registry) as (store, run):
                creators = iter(_creators(store))
                for pair in range(scale.pairs):
                    sides = ["one", "bare"] if (round_ + pair) % 2 == 0 else ["bare", "one"]
                    for side in sides:
                        chat.replies[:] = [answer] * nodes
                        chat.calls.clear()
                        seconds = run[side](next(creators))
                        if pair >= scale.warmup:
                            times[side].append(seconds / nodes)
    progress.print()
    return times


def _answer(registry: AgentRegistry) -> Callable[[list[BaseMessage]], object]:
    prompts = {registry.get(name).system_prompt: answer for name, answer in ANSWERS.items()}

    def reply(messages: list[BaseMessage]) -> object:
        system = str(messages[0].content)
        return next(answer for prompt, answer in prompts.items() if system.startswith(prompt))

    return reply


def _template(tmp: Path, creators: int) -> Path:
    """An ontology file with `creators` creators like Maya, each with her fan messages."""
    path = tmp / "template.db"
    profile = json.loads((SAMPLE / "profile.json").read_text())
    messages = json.loads((SAMPLE / "fan_messages.json").read_text())
    with Store.open(f"sqlite:///{path}") as store:
        for n in range(creators):
            props = {k: v for k, v in profile.items() if k != "name"}
            creator = store.entities.create("creator", f"{profile['name']} {n}", props)
            for message in messages:
                receive_message(store, creator.id, message["fan"], message["message"])
    return path


def _creators(store: Store) -> list[str]:
    return [e.id for e in store.entities.query(type="creator", limit=1000).items]


@contextmanager
def _round(
    tmp: Path, template: Path, round_: int, model: Model, registry: AgentRegistry
) -> Iterator[tuple[Store, dict[str, Callable[[str], float]]]]:
    """A fresh ontology and checkpointer, and a timed run of each side on them."""
    path = tmp / f"round{round_}.db"
    shutil.copyfile(template, path)
    with (
        Store.open(f"sqlite:///{path}") as store,
        checkpointer(f"sqlite:///{tmp / f'checkpoints{round_}.db'}") as saver,
    ):
        deps = Deps(store, model, registry=registry)
        runs = Runs(deps, saver, {GRAPH: _one_graph(registry)})
        runs.compiled(GRAPH)
        bare = _bare_graph(registry).compile(checkpointer=saver)

        def one_run(creator: str) -> float:
            started = time.perf_counter()
            run = runs.start(GRAPH, {"creator_id": creator})
            seconds = time.perf_counter() - started
            _check(run.values, run.status)
            return seconds

        def bare_run(creator: str) -> float:
            config: Any = {"configurable": {"thread_id": str(uuid.uuid4())}}
            started = time.perf_counter()
            values = bare.invoke({"creator_id": creator}, config, context=deps, durability="sync")
            seconds = time.perf_counter() - started
            _check(values, "completed")
            return seconds

        yield store, {"one": one_run, "bare": bare_run}


def _one_graph(registry: AgentRegistry) -> StateGraph[Any, Deps, Any, Any]:
    graph: StateGraph[Any, Deps, Any, Any] = StateGraph(ChainState, context_schema=Deps)
    return _chain(graph, {a: recorded(GRAPH, a, agent_step(a), agent=a) for a in registry.names()})


def _bare_graph(registry: AgentRegistry) -> StateGraph[Any, Deps, Any, Any]:
    def node(agent: str) -> Callable[[Mapping[str, Any], Runtime[Deps]], dict[str, Any]]:
        def work(state: Mapping[str, Any], runtime: Runtime[Deps]) -> dict[str, Any]:
            deps = runtime.context
            ctx = AgentContext(deps.store, str(state["creator_id"]), deps.registry)
            return {"outputs": {agent: run_agent(agent, ctx, deps.model).entity.id}}

        return work

    graph: StateGraph[Any, Deps, Any, Any] = StateGraph(ChainState, context_schema=Deps)
    return _chain(graph, {a: node(a) for a in registry.names()})


def _chain(
    graph: StateGraph[Any, Deps, Any, Any], nodes: dict[str, Any]
) -> StateGraph[Any, Deps, Any, Any]:
    previous = START
    for name, node in nodes.items():
        graph.add_node(name, node)
        graph.add_edge(previous, name)
        previous = name
    graph.add_edge(previous, END)
    return graph


def _check(values: Mapping[str, Any], status: str) -> None:
    if status != "completed" or len(values.get("outputs", {})) != len(ANSWERS):
        raise AssertionError(f"a run did not complete its {len(ANSWERS)} agents: {values}")


BENCHMARKS = {"runtime_overhead": runtime_overhead}
