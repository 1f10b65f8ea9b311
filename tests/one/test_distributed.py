"""ONE beyond one machine: PostgreSQL (ontology and checkpoints), a Chroma server, Redis
and two Celery workers, with two schedulers ticking the same minutes at once. Every
(schedule, slot) runs exactly once, on one worker or the other, and everything is in
PostgreSQL."""

from __future__ import annotations

import collections
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from one import _worker
from one._app import One
from one._schedules import Fired, Scheduler, Schedules, Target
from tests.one.conftest import make_one
from tests.servers import Postgres, redis

ROOT = Path(__file__).parents[2]
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MINUTES = 5
CREATORS = ("Ada Stone", "Bo Reyes", "Cy Okafor")


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """A Redis server on loopback. Skipped only outside CI when redis-server is missing."""
    if shutil.which("redis-server") is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is not installed in CI; .ci/run must install it")
        pytest.skip("redis-server is not installed (scripts/ensure-redis installs it)")
    with redis() as url:
        yield url


@pytest.mark.slow
def test_two_schedulers_and_two_workers_run_every_slot_once(
    tmp_path: Path, pg_server: Postgres, chroma_url: str, redis_url: str
) -> None:
    settings: dict[str, Any] = {
        "database_url": pg_server.new_database(),
        "chroma_url": chroma_url,
        "broker_url": redis_url,
    }
    record = tmp_path / "worker-record"
    with ExitStack() as stack:
        one = stack.enter_context(make_one(tmp_path / "setup", **settings))
        schedules = _creators_and_schedules(one, tmp_path / "content")
        env = {**os.environ, **{f"ONE_{k.upper()}": v for k, v in settings.items()}}
        for name in ("w1", "w2"):
            stack.enter_context(_worker_process(name, record, env, tmp_path / name))
        _wait_for(lambda: _lines(record, "ready") == 2, 60, "both workers ready", record)

        fired = _two_schedulers(tmp_path, settings)

        accepted = {f.run_id for f in fired}
        _wait_for(lambda: _completed(one, accepted), 60, "every run completed", record)
        _wait_for(lambda: _lines(record, "ran") >= len(accepted), 10, "tasks recorded", record)
        _check_ran_once(one, schedules, fired, record)
        _check_in_postgres(str(settings["database_url"]), accepted)
    assert not _children_alive(), "worker processes were left running"


def _creators_and_schedules(one: One, folder: Path) -> dict[str, str]:
    """Three creators with a post each; each has an intelligence agent schedule, and the
    first a daily operations one, every minute: {schedule id: agent or graph}."""
    made = {}
    for index, name in enumerate(CREATORS):
        creator = one.add_creator(name, niche="cooking")
        posts = folder / str(index)
        posts.mkdir(parents=True)
        (posts / "post.md").write_text(f"# {name} on knives\n\nHold the knife with a claw grip.\n")
        one.ingest(creator.id, posts)
        targets: list[tuple[Target, str]] = [("agent", "intelligence_agent")]
        targets += [("graph", "daily_operations")] if index == 0 else []
        for target, what in targets:
            schedule = Schedules(one.store).add(creator.id, target, what, "* * * * *", now=START)
            made[schedule.id] = what
    return made


def _two_schedulers(tmp_path: Path, settings: dict[str, Any]) -> list[Fired]:
    """Two schedulers, each with its own ONE, tick the same `MINUTES` minutes at once."""
    barrier = threading.Barrier(2)
    fired: list[Fired] = []
    errors: list[BaseException] = []

    def scheduler(name: str) -> None:
        try:
            with make_one(tmp_path / name, **settings) as one:
                url = one.settings.broker_url

                def enqueue(run_id: str) -> None:
                    _worker.enqueue(run_id, broker_url=url)

                ticker = Scheduler(one, enqueue=enqueue)
                for minute in range(1, MINUTES + 1):
                    barrier.wait(timeout=30)
                    fired.extend(ticker.tick(START + timedelta(minutes=minute)))
        except BaseException as error:
            barrier.abort()
            errors.append(error)

    threads = [threading.Thread(target=scheduler, args=(f"s{i}",)) for i in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return fired


def _check_ran_once(one: One, schedules: dict[str, str], fired: list[Fired], record: Path) -> None:
    slots = collections.Counter((f.schedule_id, f.slot) for f in fired)
    wanted = {(s, START + timedelta(minutes=m)) for s in schedules for m in range(1, MINUTES + 1)}
    assert set(slots) == wanted and set(slots.values()) == {1}  # claimed by one scheduler
    accepted = one.store.events.timeline(type="run_accepted", limit=1000).items
    assert sorted(e.run_id or "" for e in accepted) == sorted(f.run_id for f in fired)
    for f in fired:
        events = one.store.events.read_run(f.run_id)
        kinds = collections.Counter(e.type for e in events)
        agents = 5 if schedules[f.schedule_id] == "daily_operations" else 1
        assert (kinds["run_accepted"], kinds["run_completed"]) == (1, 1), kinds
        assert kinds["agent_completed"] == agents and not kinds["agent_failed"], kinds
        [start] = [e for e in events if e.type == "run_accepted"]
        assert start.target_id == f.schedule_id
        assert start.metadata["trigger"]["slot"] == f.slot.isoformat()
    insights = one.store.entities.query("insight", limit=500).items
    assert len(insights) == len(fired)  # one per intelligence run, a daily one included
    ran = [line.split() for line in record.read_text().splitlines() if line.startswith("ran ")]
    by_run = collections.Counter(run_id for _, _, _, run_id, _ in ran)
    assert by_run == collections.Counter(f.run_id for f in fired)  # each task once
    assert {status for *_, status in ran} == {"completed"}
    assert {worker for _, worker, *_ in ran} == {"w1", "w2"}  # both workers took runs


def _check_in_postgres(url: str, accepted: set[str]) -> None:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT type, run_id FROM events WHERE type IN ('run_accepted', 'run_completed')"
        ).fetchall()
        threads = conn.execute("SELECT DISTINCT thread_id FROM checkpoints").fetchall()
    by_type = collections.Counter(kind for kind, _ in rows)
    assert by_type == {"run_accepted": len(accepted), "run_completed": len(accepted)}
    assert {run_id for _, run_id in rows} == accepted
    assert {thread for (thread,) in threads} >= accepted  # the checkpoints are there too


def _completed(one: One, runs: set[str]) -> bool:
    """Whether every run completed; fails at once on a failed run, with its error."""
    failed = one.store.events.timeline(type="run_failed", limit=10).items
    assert not failed, [e.metadata.get("error") for e in failed]
    done = one.store.events.timeline(type="run_completed", limit=1000).items
    return {e.run_id for e in done} >= runs


@contextmanager
def _worker_process(name: str, record: Path, env: dict[str, str], data: Path) -> Iterator[None]:
    """The worker `name` in its own process group, warm-stopped after (killed if stuck)."""
    log = (data.parent / f"{name}.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.one.worker_child", name, str(record)],
        cwd=ROOT,
        env={**env, "ONE_DATA_DIR": str(data)},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    _started.append(process.pid)
    try:
        yield
    finally:
        process.send_signal(signal.SIGTERM)  # warm shutdown: the pool's processes end too
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


_started: list[int] = []


def _children_alive() -> bool:
    """Whether a process of a worker's group is still running."""
    for pgid in _started:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            continue
        return True
    return False


def _lines(record: Path, kind: str) -> int:
    if not record.exists():
        return 0
    return sum(line.startswith(kind + " ") for line in record.read_text().splitlines())


def _wait_for(done: Any, timeout: float, what: str, record: Path) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            logs = "\n".join(p.read_text()[-3000:] for p in sorted(record.parent.glob("w*.log")))
            raise AssertionError(f"timed out waiting for {what}; worker logs:\n{logs}")
        time.sleep(0.2)
