"""The `one` command line on fakes: every command, `--json` listings, and errors as one
line with a non-zero exit code and no traceback."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agents._builtin_agents import Insights
from one import _cli
from one._app import One
from tests.one.conftest import SAMPLE, brain_model, make_one

NOW = datetime(2026, 11, 23, 8, 30, tzinfo=UTC)

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    """`run(*args)`: the CLI's exit code, stdout and stderr, on ONE with fakes."""
    model = brain_model(Insights=Insights(insights=["Tuesday pasta is what fans ask about"]))
    clock = [NOW]

    def make() -> One:
        one = make_one(tmp_path / "data", model=model)
        one.now = lambda: clock[0]
        return one

    monkeypatch.setattr(_cli, "_make", make)
    monkeypatch.setenv("COLUMNS", "200")

    def run(*args: str, input: str | None = None) -> tuple[int, str, str]:
        if input is not None:
            monkeypatch.setattr("sys.stdin", __import__("io").StringIO(input))
        with pytest.raises(SystemExit) as done:
            _cli.main([*args])
            raise SystemExit(0)
        out, err = capsys.readouterr()
        return int(done.value.code or 0), out, err

    run.clock = clock  # type: ignore[attr-defined]
    return run


def test_init_ingest_search_and_listings(cli: Run) -> None:
    code, out, _ = cli("init", "--profile", str(SAMPLE / "profile.json"))
    assert code == 0 and "creator Maya Lin" in out
    code, out, _ = cli("init", "--creator", "Maya Lin")  # again: the same creator
    code, out, _ = cli("creators", "--json")
    creators = json.loads(out)
    assert [c["name"] for c in creators] == ["Maya Lin"]
    assert creators[0]["properties"]["niche"] == "home cooking"

    code, out, _ = cli("ingest", str(SAMPLE / "content"), "--creator", "maya lin")
    assert code == 0 and "32 added" in out
    code, out, _ = cli("ingest", str(SAMPLE / "content"), "--creator", "Maya Lin")
    assert "0 added, 0 updated, 32 unchanged" in out  # idempotent

    code, out, _ = cli("search", "pasta water salt", "-c", "Maya Lin", "--k", "3", "--json")
    hits = json.loads(out)
    assert code == 0 and len(hits) == 3
    assert all({"score", "dense", "lexical", "title", "text"} <= set(h) for h in hits)
    assert hits == sorted(hits, key=lambda h: -h["score"])


def test_ingesting_content_moved_says_so_and_stores_nothing_twice(cli: Run, tmp_path: Path) -> None:
    content = shutil.copytree(SAMPLE / "content", tmp_path / "content")
    cli("init", "--profile", str(SAMPLE / "profile.json"))
    cli("ingest", str(content), "-c", "Maya Lin")
    moved = shutil.move(content, tmp_path / "moved")
    code, out, _ = cli("ingest", str(moved), "-c", "Maya Lin")
    assert code == 0 and "0 added, 0 updated, 12 moved, 20 unchanged" in out


def test_clone_chat_one_shot_and_interactive(cli: Run) -> None:
    cli("init", "--profile", str(SAMPLE / "profile.json"))
    cli("ingest", str(SAMPLE / "content"), "-c", "Maya Lin")
    code, out, _ = cli("clone", "build", "-c", "Maya Lin")
    assert code == 0 and "completed" in out
    code, out, _ = cli("chat", "-c", "Maya Lin", "-m", "How salty is pasta water?")
    assert code == 0
    assert "clone> Salt the water like the sea" in out
    assert "[1] " in out  # its sources

    code, out, _ = cli("chat", "-c", "Maya Lin", "--fan", "ana", input="first?\n\nsecond?\n")
    assert code == 0 and out.count("clone> Salt the water") == 2


def test_agents_runs_and_the_timeline(cli: Run) -> None:
    cli("init", "--creator", "Maya Lin")
    code, out, _ = cli("agents", "run", "intelligence_agent", "-c", "Maya Lin")
    assert code == 0 and "agent_run): completed" in out
    run_id = out.split()[1]

    code, out, _ = cli("runs", "list", "--json")
    runs = json.loads(out)
    assert [(r["id"], r["graph"], r["status"]) for r in runs] == [
        (run_id, "agent_run", "completed")
    ]
    code, out, _ = cli("runs", "show", run_id, "--json")
    shown = json.loads(out)
    assert "intelligence_agent" in shown["values"]["outputs"]
    assert shown["events"][0]["type"] == "run_accepted"

    code, out, _ = cli("runs", "cancel", run_id)  # completed: stays completed
    assert "completed" in out
    code, out, err = cli("runs", "approve", run_id)
    assert code == 2 and "waits for no approval" in err

    code, out, _ = cli("events", "-c", "Maya Lin", "--json", "--type", "run_completed")
    lines = [json.loads(line) for line in out.splitlines()]
    assert [e["run_id"] for e in lines] == [run_id]


def test_schedules_and_the_scheduler(cli: Run) -> None:
    cli("init", "--creator", "Maya Lin")
    code, out, _ = cli(
        "schedule", "add", "-c", "Maya Lin", "--agent", "intelligence_agent",
        "--cron", "0 9 * * *", "--tz", "Europe/Paris",
    )  # fmt: skip
    assert code == 0 and "next run 2026-11-24 08:00 UTC" in out
    schedule_id = out.split()[1].rstrip(":")
    code, out, _ = cli("schedule", "list", "--json")
    assert [s["id"] for s in json.loads(out)] == [schedule_id]

    code, out, _ = cli("scheduler", "--once")  # 8:30 UTC is 9:30 in Paris: not yet due
    assert code == 0 and out.strip() == ""
    cli.clock[0] = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)  # type: ignore[attr-defined]
    code, out, _ = cli("scheduler", "--once")
    assert f"schedule {schedule_id}" in out and "2026-11-24 08:00 UTC" in out
    code, out, _ = cli("scheduler", "--once")  # the slot ran: nothing more
    assert out.strip() == ""
    code, out, _ = cli("runs", "list", "--json")
    assert len(json.loads(out)) == 1

    code, out, _ = cli("schedule", "remove", schedule_id)
    assert code == 0
    code, out, _ = cli("schedule", "list", "--json")
    assert json.loads(out) == []


def test_keys(cli: Run) -> None:
    cli("init", "--creator", "Maya Lin")
    code, out, err = cli("keys", "create", "-c", "Maya Lin")
    assert code == 0 and out.strip().startswith("one_")
    code, out, _ = cli("keys", "list", "--json")
    (key,) = json.loads(out)
    assert "sha256" in key["properties"] and out.count("one_") == 1  # the prefix only
    code, out, _ = cli("keys", "revoke", key["id"])
    assert code == 0
    code, out, err = cli("keys", "create")
    assert code == 2 and "--creator NAME" in err


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (("search", "x", "-c", "Nobody"), 1, "no creator 'Nobody'; known: 'Maya Lin'"),
        (("agents", "run", "nope_agent", "-c", "Maya Lin"), 1, "known agents: design_agent"),
        (("runs", "show", "123"), 1, "'123' is not a UUID"),
        (("runs", "resume", "00000000-0000-0000-0000-000000000000"), 1, "no run"),
        (("runs", "resume", "x", "--value", "{nope"), 2, "--value must be JSON"),
        (
            (
                "schedule",
                "add",
                "-c",
                "Maya Lin",
                "--agent",
                "intelligence_agent",
                "--cron",
                "every day",
            ),
            1,
            "is not a cron expression",
        ),
        (
            (
                "schedule",
                "add",
                "-c",
                "Maya Lin",
                "--agent",
                "intelligence_agent",
                "--cron",
                "0 9 * * *",
                "--tz",
                "Mars/Base",
            ),
            1,
            "is not an IANA timezone",
        ),
        (("schedule", "add", "-c", "Maya Lin", "--cron", "0 9 * * *"), 2, "--agent NAME"),
        (("ingest", "/no/such/path", "-c", "Maya Lin"), 2, "does not exist"),
        (("frobnicate",), 2, "No such command"),
        (("chat", "-c", "Maya Lin", "-m", "  "), 1, "message: is empty"),
        (("serve", "--workers", "2"), 1, "need a Chroma server"),
        (("serve", "--workers", "0"), 2, "greater than or equal to 1"),
    ],
)
def test_errors_are_one_line_with_a_non_zero_exit(
    cli: Run, args: tuple[str, ...], code: int, says: str
) -> None:
    cli("init", "--creator", "Maya Lin")
    got, out, err = cli(*args)
    assert got == code
    assert says in err
    assert "Traceback" not in err + out
    assert len(err.strip().splitlines()) == 1


def test_a_database_another_writer_holds_is_one_line_that_says_what_to_do(
    cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli("init", "--creator", "Maya Lin")
    monkeypatch.setenv("ONE_BUSY_TIMEOUT", "0.2")
    other = sqlite3.connect(tmp_path / "data" / "one.db", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another process's writer, in its transaction
        got, out, err = cli("init", "--creator", "Ben Okafor")
    finally:
        other.rollback()
        other.close()
    assert got == 1
    assert "the database one.db stayed locked by another writer for 0.2 s" in err
    assert "run the command again" in err and "ONE_BUSY_TIMEOUT" in err
    assert "Traceback" not in err + out
    assert len(err.strip().splitlines()) == 1
    assert cli("init", "--creator", "Ben Okafor")[0] == 0  # nothing was half-written
