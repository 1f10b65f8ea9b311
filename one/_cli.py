"""The `one` command line.

Every listing takes `--json`. An error is one line saying what to do, with a non-zero
exit code, never a traceback. Creators are named by id or by name (`--creator "Maya Lin"`).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from agents.errors import AgentsError
from graphs import Run
from knowledge.errors import KnowledgeError
from one._app import One, run_json
from one._settings import Settings, locked
from ontology import Entity, Event
from ontology.errors import DatabaseLockedError, OntologyError

console = Console()
errors = Console(stderr=True, soft_wrap=True)

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="ONE: run a creator's business with AI.",
)
clone_app = typer.Typer(no_args_is_help=True, help="Build the creator's AI clone.")
agents_app = typer.Typer(no_args_is_help=True, help="Launch and run the business agents.")
runs_app = typer.Typer(no_args_is_help=True, help="Inspect and steer graph runs.")
schedule_app = typer.Typer(no_args_is_help=True, help="Run agents and graphs on a schedule.")
keys_app = typer.Typer(no_args_is_help=True, help="API keys of the server.")
app.add_typer(clone_app, name="clone")
app.add_typer(agents_app, name="agents")
app.add_typer(runs_app, name="runs")
app.add_typer(schedule_app, name="schedule")
app.add_typer(keys_app, name="keys")

CreatorOpt = Annotated[str, typer.Option("--creator", "-c", help="The creator's id or name.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


class UsageFailureError(Exception):
    """A usage problem the CLI reports as one line."""


def main(argv: Sequence[str] | None = None) -> None:
    """The `one` entry point: the app, with errors as one line and a non-zero exit."""
    try:
        app(args=list(argv) if argv is not None else None, standalone_mode=False)
    except (typer.Exit, SystemExit) as done:
        code = getattr(done, "exit_code", getattr(done, "code", 0))
        sys.exit(code if isinstance(code, int) else 1)
    except typer.Abort:
        errors.print("aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        errors.print("interrupted")
        sys.exit(130)
    except Exception as error:  # one line, never a traceback
        errors.print(f"[red]error:[/red] {_one_line(error)}", highlight=False)
        sys.exit(2 if _is_usage(error) else 1)


def _is_usage(error: Exception) -> bool:
    return isinstance(error, UsageFailureError) or _click_usage(error)


def _click_usage(error: Exception) -> bool:
    """Click's usage errors (typer ships its own click, so by their shape)."""
    return hasattr(error, "format_message") and hasattr(error, "ctx")


def _one_line(error: Exception) -> str:
    if _click_usage(error):
        ctx = getattr(error, "ctx", None)
        hint = f" (see `{ctx.command_path} --help`)" if ctx else ""
        return f"{error.format_message()}{hint}"  # type: ignore[attr-defined]
    if isinstance(error, DatabaseLockedError):
        again = "run the command again once the other writer is done"
        return locked(Path(error.url).name, error.waited_s, again=again)
    known = (OntologyError, AgentsError, KnowledgeError, UsageFailureError, ValueError, OSError)
    text = str(error) if isinstance(error, known) else f"{type(error).__name__}: {error}"
    return " ".join(text.split()) or type(error).__name__


def _make() -> One:
    """ONE on the settings (tests replace this to run the CLI on fakes)."""
    return One(Settings())


@contextmanager
def _one() -> Iterator[One]:
    with _make() as one:
        yield one


# -- set-up, content, search ---------------------------------------------------------------


@app.command()
def init(
    creator: Annotated[str | None, typer.Option(help="Add this creator.")] = None,
    niche: Annotated[str | None, typer.Option(help="The creator's niche.")] = None,
    profile: Annotated[
        Path | None, typer.Option(help="A JSON file of the creator's profile.", exists=True)
    ] = None,
) -> None:
    """Create ONE's data directory and database (and, with --creator, a creator)."""
    with _one() as one:
        console.print(f"ONE's data is in [bold]{one.settings.data_dir}[/bold] ({one.store.url})")
        if creator or profile:
            properties = json.loads(profile.read_text()) if profile else {}
            name = creator or str(properties.pop("name", ""))
            if not name:
                raise UsageFailureError("give the creator's name: --creator NAME")
            made = one.add_creator(name, niche, properties)
            console.print(f"creator [bold]{made.name}[/bold] ({made.id})")


@app.command("creators")
def creators(as_json: JsonOpt = False) -> None:
    """List the creators."""
    with _one() as one:
        _entities(one.creators(), as_json, "creators", ("name", "id", "created"))


@app.command()
def ingest(
    path: Annotated[Path, typer.Argument(help="A file, or a folder of files.", exists=True)],
    creator: CreatorOpt,
) -> None:
    """Ingest a creator's content (posts, articles, transcripts, interactions)."""
    with _one() as one:
        who = one.creator(creator)
        with Progress(
            TextColumn("[bold]ingesting[/bold]"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.description}"),
            console=errors,
            transient=True,
        ) as bar:
            task = bar.add_task("", total=None)

            def progress(p: Any) -> None:
                bar.update(task, completed=p.done, total=p.total, description=p.source)

            report = one.ingest(who.id, path, on_progress=progress)
        console.print(
            f"{len(report.added)} added, {len(report.updated)} updated, "
            + (f"{len(report.moved)} moved, " if report.moved else "")
            + f"{len(report.unchanged)} unchanged, {len(report.failed)} failed "
            f"({report.chunks_written} chunks written)"
        )
        for source, why in report.failed.items():
            errors.print(f"[yellow]skipped[/yellow] {source}: {why}")


@app.command()
def search(
    query: str,
    creator: CreatorOpt,
    k: Annotated[int | None, typer.Option(help="How many chunks (the clone's k).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The chunks, and their scores, that the clone would see for QUERY."""
    with _one() as one:
        hits = one.search(one.creator(creator).id, query, k=k)
        rows = [
            {
                "score": round(h.score, 4),
                "dense": None if h.dense is None else round(h.dense, 4),
                "lexical": None if h.lexical is None else round(h.lexical, 4),
                "title": h.chunk.title,
                "text": h.chunk.text,
            }
            for h in hits
        ]
        if as_json:
            _print_json(rows)
            return
        table = Table(title=f"{len(rows)} chunks for {query!r}")
        for column in ("score", "dense", "lexical", "title", "text"):
            table.add_column(column, overflow="fold", ratio=4 if column == "text" else None)
        for row in rows:
            table.add_row(*(str(row[c]) for c in ("score", "dense", "lexical", "title", "text")))
        console.print(table)


# -- the clone -------------------------------------------------------------------------------


@clone_app.command("build")
def clone_build(creator: CreatorOpt) -> None:
    """Build the creator's clone from their content (voice, appearance, personality)."""
    with _one() as one:
        who = one.creator(creator)
        with errors.status(f"building {who.name}'s clone (the model extracts a personality)"):
            run = one.build_clone(who.id)
        _print_run(run)


@app.command()
def chat(
    creator: CreatorOpt,
    fan: Annotated[str, typer.Option(help="The fan's handle (their memory is theirs).")] = "you",
    message: Annotated[
        str | None, typer.Option("--message", "-m", help="Ask once, and exit.")
    ] = None,
    sources: Annotated[bool, typer.Option(help="Show the sources of each answer.")] = True,
) -> None:
    """Chat with the creator's clone: interactive (Ctrl-D to leave), or once with -m."""
    with _one() as one:
        who = one.creator(creator)
        if message is not None:
            _turn(one, who.id, fan, message, sources)
            return
        console.print(f"[dim]chatting with {who.name}'s clone as {fan!r}; Ctrl-D to leave[/dim]")
        while True:
            try:
                asked = console.input("[bold]you>[/bold] ")
            except EOFError:
                console.print()
                return
            if asked.strip():
                _turn(one, who.id, fan, asked, sources)


def _turn(one: One, creator_id: str, fan: str, message: str, sources: bool) -> None:
    stream = one.chat_stream(creator_id, fan, message)
    console.print("[bold]clone>[/bold] ", end="")
    for piece in stream:
        console.print(piece, end="", markup=False, highlight=False)
    console.print()
    if sources and stream.turn is not None:
        for s in stream.turn.sources:
            console.print(f"  [dim][{s.n}] {s.title} ({s.kind}, score {s.score:.3f})[/dim]")


# -- agents and runs -------------------------------------------------------------------------


@agents_app.command("launch")
def agents_launch(creator: CreatorOpt) -> None:
    """Launch the creator: register the ten agents, then strategy, then marketing."""
    with _one() as one:
        who = one.creator(creator)
        with errors.status("launching: strategy writes the plan, marketing the calendar"):
            run = one.launch(who.id)
        _print_run(run)


@agents_app.command("run")
def agents_run(
    agent: Annotated[str, typer.Argument(help="e.g. intelligence_agent")],
    creator: CreatorOpt,
    task: Annotated[str | None, typer.Option(help="What to do this time.")] = None,
) -> None:
    """Run one agent for the creator."""
    with _one() as one:
        who = one.creator(creator)
        with errors.status(f"running {agent}"):
            run = one.run_agent(who.id, agent, task)
        _print_run(run)


@agents_app.command("daily")
def agents_daily(creator: CreatorOpt) -> None:
    """Run today's operations (intelligence, marketing, finance, service, design)."""
    with _one() as one:
        who = one.creator(creator)
        with errors.status("running the day's operations"):
            run = one.daily(who.id)
        _print_run(run)


@agents_app.command("list")
def agents_list(creator: CreatorOpt, as_json: JsonOpt = False) -> None:
    """The creator's agents."""
    with _one() as one:
        agents = one.agents(one.creator(creator).id)
        _entities(agents, as_json, "agents", ("name", "type", "status", "id"))


@runs_app.command("list")
def runs_list(
    creator: Annotated[str | None, typer.Option("--creator", "-c")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 20,
    as_json: JsonOpt = False,
) -> None:
    """The latest runs, newest first."""
    with _one() as one:
        creator_id = one.creator(creator).id if creator else None
        runs = one.runs_of(creator_id, limit=limit)
        if as_json:
            _print_json([run_json(r, events=False) for r in runs])
            return
        table = Table(title=f"{len(runs)} runs")
        for column in ("id", "graph", "status", "started", "trigger"):
            table.add_column(column, no_wrap=column != "trigger")
        for r in runs:
            accepted = r.events[0] if r.events else None
            trigger = accepted.metadata.get("trigger") if accepted else None
            table.add_row(
                r.id,
                r.graph,
                _status(r.status),
                accepted.timestamp.strftime("%Y-%m-%d %H:%M:%S") if accepted else "",
                f"schedule {trigger['scheduleId'][:8]} @ {trigger['slot']}" if trigger else "",
            )
        console.print(table)


@runs_app.command("show")
def runs_show(run_id: str, as_json: JsonOpt = False) -> None:
    """A run: its status, pending gate, outputs and events."""
    with _one() as one:
        run = one.runs.get(run_id)
        if as_json:
            _print_json(run_json(run))
            return
        _print_run(run, events=True)


@runs_app.command("resume")
def runs_resume(
    run_id: str,
    value: Annotated[
        str | None, typer.Option(help="The answer to the run's gate, as JSON.")
    ] = None,
) -> None:
    """Carry on with a run: answer its gate, or continue after a crash or failure."""
    with _one() as one:
        answer = None
        if value is not None:
            try:
                answer = json.loads(value)
            except json.JSONDecodeError:
                raise UsageFailureError(
                    '--value must be JSON, e.g. \'{"paymentId": "ch_1"}\''
                ) from None
        with errors.status("resuming"):
            run = one.runs.resume(run_id, answer)
        _print_run(run)


@runs_app.command("approve")
def runs_approve(run_id: str) -> None:
    """Approve what a run waits for (resume its gate with {"approved": true})."""
    with _one() as one:
        run = one.runs.get(run_id)
        if not run.interrupts:
            raise UsageFailureError(f"run {run.id} is {run.status}: it waits for no approval")
        _print_run(one.runs.resume(run.id, {"approved": True}))


@runs_app.command("cancel")
def runs_cancel(run_id: str) -> None:
    """Stop a run for good."""
    with _one() as one:
        _print_run(one.runs.cancel(run_id))


# -- schedules -----------------------------------------------------------------------------


@schedule_app.command("add")
def schedule_add(
    creator: CreatorOpt,
    cron: Annotated[str, typer.Option(help="A cron expression, e.g. '0 9 * * *'.")],
    agent: Annotated[str | None, typer.Option(help="Run this agent...")] = None,
    graph: Annotated[str | None, typer.Option(help="...or this graph.")] = None,
    tz: Annotated[str, typer.Option("--tz", help="An IANA timezone.")] = "UTC",
    end: Annotated[datetime | None, typer.Option(help="No runs after this time (in --tz).")] = None,
) -> None:
    """Schedule an agent or a graph for a creator."""
    from one._schedules import Target

    if (agent is None) == (graph is None):
        raise UsageFailureError("give one of --agent NAME or --graph NAME")
    with _one() as one:
        who = one.creator(creator)
        target: Target = "agent" if agent else "graph"
        made = one.add_schedule(who.id, target, str(agent or graph), cron, timezone=tz, end=end)
        nxt = datetime.fromtimestamp(made.properties["nextRun"] / 1000).astimezone()
        console.print(f"schedule {made.id}: {made.name}; next run {nxt:%Y-%m-%d %H:%M %Z}")


@schedule_app.command("list")
def schedule_list(
    creator: Annotated[str | None, typer.Option("--creator", "-c")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The schedules (of one creator, or all)."""
    from one._schedules import Schedules

    with _one() as one:
        creator_id = one.creator(creator).id if creator else None
        schedules = Schedules(one.store).list(creator_id)
        if as_json:
            _print_json([s.model_dump(mode="json") for s in schedules])
            return
        table = Table(title=f"{len(schedules)} schedules")
        for column in ("id", "what", "cron", "timezone", "enabled", "next run"):
            table.add_column(column)
        for s in schedules:
            p = s.properties
            nxt = datetime.fromtimestamp(int(p.get("nextRun", 0)) / 1000).astimezone()
            table.add_row(
                s.id,
                f"{p['target']} {p['name']}",
                str(p["cron"]),
                str(p.get("timezone", "UTC")),
                "yes" if p.get("enabled", True) else "no",
                f"{nxt:%Y-%m-%d %H:%M %Z}",
            )
        console.print(table)


@schedule_app.command("remove")
def schedule_remove(schedule_id: str) -> None:
    """Delete a schedule (its runs stay in the timeline)."""
    from one._schedules import Schedules

    with _one() as one:
        removed = Schedules(one.store).remove(schedule_id)
        console.print(f"removed schedule {removed.id} ({removed.name})")


@app.command()
def scheduler(
    once: Annotated[bool, typer.Option(help="Tick once and exit.")] = False,
    interval: Annotated[float | None, typer.Option(help="Seconds between ticks.")] = None,
) -> None:
    """Run due schedules (in this process, or on Celery workers with ONE_BROKER_URL)."""
    from one._schedules import Fired, Scheduler

    with _one() as one:

        def report(fired: list[Fired]) -> None:
            for f in fired:
                late = f" (stands for {f.missed} missed slots)" if f.missed > 1 else ""
                console.print(
                    f"{f.slot:%Y-%m-%d %H:%M} UTC schedule {f.schedule_id}: run {f.run_id}{late}"
                )

        ticker = Scheduler(one, enqueue=one.enqueuer())
        if once:
            report(ticker.tick())
            return
        console.print("[dim]scheduler running; Ctrl-C to stop[/dim]")
        ticker.run_forever(interval=interval, on_tick=report)


# -- events, keys, serving --------------------------------------------------------------------


@app.command()
def events(
    creator: CreatorOpt,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new events.")
    ] = False,
    type: Annotated[str | None, typer.Option(help="Only events of this type.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    as_json: JsonOpt = False,
) -> None:
    """The creator's event timeline (the latest LIMIT), and with --follow, what comes next."""
    with _one() as one:
        who = one.creator(creator)
        latest = one.timeline(who.id, type=type, limit=limit, newest_first=True)
        shown = sorted(latest, key=lambda e: e.seq)
        names = _names(one, shown)
        _print_events(shown, names, as_json)
        last = shown[-1].seq if shown else 0
        while follow:
            time.sleep(0.5)
            new = sorted(
                one.timeline(who.id, type=type, after_seq=last, limit=500), key=lambda e: e.seq
            )
            if new:
                _print_events(new, _names(one, new), as_json)
                last = new[-1].seq


@keys_app.command("create")
def keys_create(
    creator: Annotated[str | None, typer.Option("--creator", "-c")] = None,
    admin: Annotated[bool, typer.Option(help="A key for every creator.")] = False,
    name: Annotated[str, typer.Option(help="What the key is for.")] = "api key",
) -> None:
    """Make an API key for the server; it is shown this once."""
    from one import _keys

    if bool(creator) == admin:
        raise UsageFailureError(
            "give --creator NAME (a creator's key) or --admin (every creator's)"
        )
    with _one() as one:
        creator_id = one.creator(creator).id if creator else None
        made, secret = _keys.create(one.store, creator_id, name=name)
        errors.print(
            f"key {made.id[:12]} ({'admin' if admin else creator}); keep it, it is shown once:"
        )
        console.print(secret)


@keys_app.command("list")
def keys_list(as_json: JsonOpt = False) -> None:
    """The API keys (their prefixes, never the keys)."""
    from one import _keys

    with _one() as one:
        _entities(_keys.listing(one.store), as_json, "keys", ("name", "id", "status", "created"))


@keys_app.command("revoke")
def keys_revoke(key_id: str) -> None:
    """Revoke an API key at once."""
    from one import _keys

    with _one() as one:
        revoked = _keys.revoke(one.store, key_id)
        console.print(f"revoked {revoked.id}")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    schedules: Annotated[bool, typer.Option(help="Run due schedules in the server too.")] = True,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Server processes, one core each (more than 1 needs ONE_CHROMA_URL).",
        ),
    ] = 1,
) -> None:
    """Serve ONE's HTTP API (docs at /docs; OpenAI-compatible at /v1)."""
    from one._server import serve as serving

    processes = f", {workers} processes" if workers > 1 else ""
    console.print(f"ONE on http://{host}:{port} (API docs: /docs, OpenAI: /v1{processes})")
    serving(_make, host=host, port=port, scheduler=schedules, workers=workers)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def worker(ctx: typer.Context) -> None:
    """A Celery worker running submitted and scheduled runs (needs ONE_BROKER_URL)."""
    from one._worker import app as celery_app

    celery_app().worker_main(["worker", "--loglevel=INFO", *ctx.args])


@app.command()
def demo(
    data_dir: Annotated[
        Path | None, typer.Option(help="Where the demo's data goes (default: ONE_DATA_DIR).")
    ] = None,
) -> None:
    """The whole of ONE on the local model: a sample creator ingested, cloned, launched,
    a day of operations, a fan's three questions; then what happened."""
    from one._demo import run_demo

    settings = Settings(data_dir=data_dir) if data_dir else Settings()
    run_demo(settings, console)


# -- printing --------------------------------------------------------------------------------


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def _entities(items: list[Entity], as_json: bool, title: str, columns: tuple[str, ...]) -> None:
    if as_json:
        _print_json([e.model_dump(mode="json") for e in items])
        return
    table = Table(title=f"{len(items)} {title}")
    for column in columns:
        table.add_column(column)
    for e in items:
        values = {
            "name": e.name,
            "id": e.id,
            "type": e.type,
            "status": e.status,
            "created": f"{e.created_at:%Y-%m-%d %H:%M}",
        }
        table.add_row(*(values[c] for c in columns))
    console.print(table)


def _status(status: str) -> str:
    colour = {"completed": "green", "failed": "red", "interrupted": "yellow"}.get(status, "cyan")
    return f"[{colour}]{status}[/{colour}]"


def _print_run(run: Run, *, events: bool = False) -> None:
    console.print(f"run {run.id} ({run.graph}): {_status(run.status)}")
    for interrupt in run.interrupts:
        console.print(f"  waiting: {json.dumps(interrupt.value, default=str)}")
        console.print(f"  answer with `one runs resume {run.id} --value JSON`")
    for problem in run.values.get("errors", []) + run.values.get("failed", []):
        console.print(f"  [yellow]failed:[/yellow] {problem}")
    failure = next((e for e in reversed(run.events) if e.type == "run_failed"), None)
    if failure is not None and run.status == "failed":
        console.print(f"  [red]{failure.metadata.get('error', '')}[/red]")
        console.print(f"  retry with `one runs resume {run.id}`")
    if events:
        for e in run.events:
            console.print(f"  {e.seq:>6} {e.timestamp:%H:%M:%S} {e.type} {_brief(e.metadata)}")


def _names(one: One, events: list[Event]) -> dict[str, str]:
    return one.names([e.actor_id for e in events] + [e.target_id for e in events if e.target_id])


def _print_events(events: list[Event], names: dict[str, str], as_json: bool) -> None:
    if as_json:
        for e in events:
            sys.stdout.write(json.dumps(e.model_dump(mode="json"), default=str) + "\n")
        sys.stdout.flush()
        return
    for e in events:
        target = f" → {names.get(e.target_id, e.target_id)}" if e.target_id else ""
        console.print(
            f"{e.seq:>6} {e.timestamp:%Y-%m-%d %H:%M:%S} [bold]{e.type}[/bold] "
            f"{names.get(e.actor_id, e.actor_id)}{target} [dim]{_brief(e.metadata)}[/dim]",
            highlight=False,
        )


def _brief(metadata: dict[str, Any], width: int = 100) -> str:
    shown = {k: v for k, v in metadata.items() if k not in ("input", "acceptedBy", "threadId")}
    text = ", ".join(f"{k}={v}" for k, v in shown.items())
    return text if len(text) <= width else text[: width - 1] + "…"
