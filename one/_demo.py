"""ONE's main job on its embedded defaults (`one demo`, `make demo`).

A sample creator (Maya Lin, original content written for ONE: video and audio
transcripts, articles, posts, fan messages) is ingested, her clone is built, she is
launched (ten agents), a day of operations runs, and a fan asks the clone three
questions. Then ONE prints what happened: the answers with their sources, the agents'
outputs in short, and the event timeline. Everything runs on the local model with no key
and no server. Every step is keyed (the creator by name, the runs by what they are for,
the fan's questions by request id), so a second demo finds the work done and repeats
none of it.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from agents import Model, receive_message
from agents.errors import AgentsError
from graphs import Run, clone
from knowledge import Embedder
from one._app import One
from one._settings import Settings
from ontology.errors import OntologyError

SAMPLE = Path(__file__).parent / "_samples" / "maya"
QUESTIONS = (
    "How salty should my pasta water be?",
    "What should I cook on a busy Tuesday night?",
    "How do I keep my knife sharp at home?",
)
FAN = "sam"


def run_demo(
    settings: Settings,
    console: Console,
    *,
    model: Model | Callable[[], Model] | None = None,
    embedder: Embedder | None = None,
) -> dict[str, Any]:
    """Run the demo on `settings` (the local model unless `model`); what it did, by step."""
    with One(settings, model=model, embedder=embedder) as one:
        started = time.monotonic()
        step = _Steps(console)
        profile = json.loads((SAMPLE / "profile.json").read_text())
        with step("the sample creator"):
            maya = one.add_creator(profile.pop("name"), properties=profile)
            for m in json.loads((SAMPLE / "fan_messages.json").read_text()):
                receive_message(
                    one.store,
                    maya.id,
                    m["fan"],
                    m["message"],
                    message_id=m["id"],
                    received_at=datetime.fromisoformat(m["received_at"]),
                )
        with step("ingesting her content (MiniLM embeddings, Chroma on disk)"):
            report = _ingest(one, maya.id, console)
        built = step.run(
            "building her clone (the model reads her content for a personality)",
            one,
            one.build_clone,
            maya.id,
        )
        launched = step.run(
            "launching her business: ten agents, a 90-day plan, a content calendar",
            one,
            one.launch,
            maya.id,
        )
        day = step.run(
            "one day of operations: intelligence, marketing, finance, service, design",
            one,
            one.daily,
            maya.id,
        )
        turns = []
        for n, question in enumerate(QUESTIONS, 1):
            with step(f"a fan asks the clone: {question}") as asking:
                try:
                    turns.append(one.chat(maya.id, FAN, question, key=f"demo-question-{n}"))
                except (AgentsError, OntologyError) as error:
                    asking.failed = str(error)
        _print_answers(console, turns)
        _print_outputs(console, one, [r for r in (built, launched, day) if r is not None])
        timeline = one.timeline(maya.id, limit=1000)
        _print_timeline(console, one, timeline)
        console.print(
            f"[dim]done in {time.monotonic() - started:.0f} s; data in {settings.data_dir} "
            f'({one.store.url}). Chat on with `one chat --creator "Maya Lin"`.[/dim]'
        )
        return {
            "creator": maya.id,
            "ingested": report,
            "runs": {r.graph: r for r in (built, launched, day) if r is not None},
            "turns": turns,
            "timeline": timeline,
        }


class _Steps:
    """Says what each step is doing while it runs, and how long it took."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def __call__(self, what: str) -> Any:
        return _Step(self.console, what)

    def run(self, what: str, one: One, start: Callable[[str], Run], creator_id: str) -> Run | None:
        """A run-making step that goes on past a failure: the run is kept, failed, and
        this step resumes it the next time (a demo run twice retries what failed)."""
        with _Step(self.console, what) as step:
            try:
                run = start(creator_id)
                if run.status == "failed":  # failed in an earlier demo: carry on with it
                    run = one.runs.resume(run.id)
            except (AgentsError, OntologyError) as error:
                step.failed = str(error)
                return None
            if run.status != "completed":
                step.failed = f"the run {run.status}"
            return run


class _Step:
    failed: str | None = None

    def __init__(self, console: Console, what: str) -> None:
        self.console, self.what = console, what

    def __enter__(self) -> _Step:
        self.started = time.monotonic()
        self.status = self.console.status(f"{self.what} ...")
        self.status.__enter__()
        return self

    def __exit__(self, kind: object, error: object, tb: object) -> None:
        self.status.__exit__(None, None, None)
        took = f"[dim]({time.monotonic() - self.started:.1f} s)[/dim]"
        if kind is None and self.failed is None:
            self.console.print(f"[green]✓[/green] {self.what} {took}")
            return
        why = self.failed or str(error)
        self.console.print(f"[red]✗[/red] {self.what} {took}\n  [red]{why}[/red]")
        self.console.print("  [dim]kept as it stands: run the demo again to carry on[/dim]")


def _ingest(one: One, creator_id: str, console: Console) -> Any:
    with Progress(
        TextColumn("  "), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
        console=console, transient=True,
    ) as bar:  # fmt: skip
        task = bar.add_task("", total=None)

        def progress(p: Any) -> None:
            bar.update(task, completed=p.done, total=p.total, description=p.source)

        return one.ingest(creator_id, SAMPLE / "content", on_progress=progress)


def _print_answers(console: Console, turns: list[clone.ChatTurn]) -> None:
    for turn in turns:
        question = str(turn.run.values.get("message", ""))
        sources = "\n".join(
            f"[dim][{s.n}] {s.title} ({s.kind}, score {s.score:.2f})[/dim]" for s in turn.sources
        )
        body = f"[bold]{FAN}:[/bold] {question}\n\n[bold]clone:[/bold] {turn.text.strip()}"
        console.print(Panel(body + ("\n\n" + sources if sources else ""), title="the clone"))


def _print_outputs(console: Console, one: One, runs: list[Run]) -> None:
    table = Table(title="What the agents made", show_lines=False)
    table.add_column("run")
    table.add_column("agent")
    table.add_column("output", ratio=1, overflow="fold")
    for run in runs:
        for agent, entity_id in sorted(run.values.get("outputs", {}).items()):
            made = one.store.entities.find(str(entity_id))
            table.add_row(run.graph, agent, _gist(made.name, made.properties) if made else "")
        for agent in run.values.get("failed", []):
            table.add_row(
                run.graph, str(agent), "[yellow]failed (recorded; the others went on)[/yellow]"
            )
        for problem in run.values.get("errors", []):
            table.add_row(run.graph, "", f"[yellow]{problem}[/yellow]")
        if run.graph == clone.BUILD:
            table.add_row(run.graph, "clone", f"{run.values.get('status', run.status)}")
    console.print(table)


def _gist(name: str, properties: dict[str, Any], width: int = 160) -> str:
    """The output in short: its structured output as compact JSON."""
    output = properties.get("output", properties)
    text = json.dumps(output, default=str, ensure_ascii=False, separators=(", ", ": "))
    return f"{name}: {text[:width]}{'…' if len(text) > width else ''}"


def _print_timeline(console: Console, one: One, events: list[Any]) -> None:
    kinds = Counter(e.type for e in events)
    console.print(
        f"[bold]Maya Lin's timeline[/bold]: {len(events)} events: "
        + ", ".join(f"{k} {n}" for k, n in kinds.most_common())
    )
    shown = [e for e in events if not e.type.startswith("node_")][-25:]
    table = Table(title=f"the latest {len(shown)} (without node events)")
    table.add_column("#", justify="right")
    table.add_column("time", no_wrap=True)
    table.add_column("event", no_wrap=True)
    table.add_column("actor → target", overflow="fold")
    names = one.names([e.actor_id for e in shown] + [e.target_id for e in shown if e.target_id])
    for e in shown:
        actor = names.get(e.actor_id, e.actor_id[:8])
        target = f" → {names.get(e.target_id, e.target_id[:8])}" if e.target_id else ""
        table.add_row(str(e.seq), f"{e.timestamp:%H:%M:%S}", e.type, actor + target)
    console.print(table)
