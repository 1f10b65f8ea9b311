"""Locks, crashes and concurrent writer processes: nothing lost, nothing duplicated."""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import text

from ontology import Store
from ontology.errors import DatabaseLockedError

pytestmark = pytest.mark.slow
WRITER = [sys.executable, "-m", "tests.ontology.writer"]
ROOT = Path(__file__).parents[2]


def _spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*WRITER, *args], cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def _acks(output: str) -> dict[str, int]:
    return {key: int(seq) for _, key, seq in (line.split() for line in output.splitlines())}


def _integrity_ok(url: str) -> bool:
    with Store.open(url) as store, store._scope.db.engine.connect() as conn:
        return conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"


def test_four_writer_processes_lose_nothing_and_duplicate_nothing(shared_url: str) -> None:
    with Store.open(shared_url) as store:
        actor = store.entities.create("creator", "Ada").id
    count = 60
    writers = [_spawn("append", shared_url, actor, f"w{n}", str(count)) for n in range(4)]
    acks: dict[str, set[int]] = {}
    for w in writers:
        out, err = w.communicate(timeout=240)
        assert w.returncode == 0, err
        for key, seq in _acks(out).items():
            acks.setdefault(key, set()).add(seq)
    with Store.open(shared_url) as store:
        stored = store.events.read_run("shared")
    by_key = {e.idempotency_key: e.seq for e in stored}
    # Every writer's own events, and each shared key once, whoever wrote it first.
    assert len(stored) == 4 * count + count
    assert Counter(e.idempotency_key for e in stored).most_common(1)[0][1] == 1
    assert all(by_key[key] in seqs and len(seqs) == 1 for key, seqs in acks.items())
    assert [e.run_position for e in stored] == list(range(len(stored)))


def test_a_writer_killed_at_random_loses_no_acknowledged_event(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'one.db'}"
    with Store.open(url) as store:
        actor = store.entities.create("creator", "Ada").id
    rng = random.Random(20261122)
    acked: dict[str, int] = {}
    for round_ in range(5):
        writer = _spawn("forever", url, actor, f"r{round_}")
        time.sleep(rng.uniform(0.5, 1.5))
        writer.kill()
        out, _ = writer.communicate(timeout=30)
        assert writer.returncode == -9
        acked |= _acks(out)
    assert _integrity_ok(url)
    with Store.open(url) as store:
        stored = {e.idempotency_key: e.seq for e in store.events.read_run("shared")}
        positions = [e.run_position for e in store.events.read_run("shared")]
    assert len(acked) > 20
    assert all(stored.get(key) == seq for key, seq in acked.items())
    assert positions == list(range(len(positions)))


def test_a_crash_mid_transaction_writes_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'one.db'}"
    with Store.open(url) as store:
        actor = store.entities.create("creator", "Ada").id
    writer = _spawn("crash", url, actor)
    out, err = writer.communicate(timeout=60)
    assert "written, not committed" in out, err
    assert writer.returncode == -9
    assert _integrity_ok(url)
    with Store.open(url) as store:
        assert [e.id for e in store.entities.query(include_deleted=True).items] == [actor]
        assert store.connections.query().items == []
        assert store.events.timeline().items == []


def test_a_locked_database_waits_then_fails_clearly(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'one.db'}"
    holder = Store.open(url)
    actor = holder.entities.create("creator", "Ada").id
    waiter = Store.open(url, busy_timeout=0.3)
    with holder.transaction() as tx:
        tx.events.append("user_joined", actor)  # holds the write lock until the block ends
        started = time.monotonic()
        with pytest.raises(DatabaseLockedError, match="locked by another writer") as info:
            waiter.events.append("user_engaged", actor)
        assert time.monotonic() - started >= 0.25
        assert "busy timeout" in str(info.value)
        # Reads are not blocked by the writer (WAL).
        assert waiter.entities.get(actor).name == "Ada"
    assert [e.type for e in waiter.events.timeline().items] == ["user_joined"]
    holder.close()
    waiter.close()


def test_a_writer_that_waits_less_than_the_timeout_gets_through(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'one.db'}"
    holder, waiter = Store.open(url), Store.open(url, busy_timeout=10)
    actor = holder.entities.create("creator", "Ada").id
    release = threading.Event()

    def hold() -> None:
        with holder.transaction() as tx:
            tx.events.append("user_joined", actor)
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    time.sleep(0.2)
    threading.Timer(0.3, release.set).start()
    waiter.events.append("user_engaged", actor)
    thread.join()
    assert [e.type for e in waiter.events.timeline().items] == ["user_joined", "user_engaged"]
    holder.close()
    waiter.close()
