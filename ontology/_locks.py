"""Exclusive holds on a name, across every process using the same database, released
when their holder ends or dies: PostgreSQL advisory locks, or lock files beside a SQLite
database (in-memory databases: locks of this process)."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout
from sqlalchemy import text

from ontology._database import Database, _is_memory

_local: dict[str, threading.Lock] = {}
_local_guard = threading.Lock()


@contextmanager
def hold(db: Database, name: str) -> Iterator[bool]:
    """Try to hold `name` without waiting: yields True while held, False if another
    holds it now."""
    if db.dialect == "postgresql":
        with _advisory(db, name) as held:
            yield held
    elif _is_memory(str(db.engine.url)):
        with _local_guard:
            lock = _local.setdefault(name, threading.Lock())
        got = lock.acquire(blocking=False)
        try:
            yield got
        finally:
            if got:
                lock.release()
    else:
        database = db.engine.url.database or ""
        folder = Path(database).parent / (Path(database).name + ".locks")
        folder.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256(name.encode()).hexdigest()[:32]
        on_disk = FileLock(folder / f"{digest}.lock", thread_local=False)
        try:
            on_disk.acquire(timeout=0)
        except Timeout:
            yield False
            return
        try:
            yield True
        finally:
            on_disk.release()


@contextmanager
def _advisory(db: Database, name: str) -> Iterator[bool]:
    key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
    with db.engine.connect() as conn:  # the lock lives as long as this session
        held = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
        conn.commit()
        try:
            yield held
        finally:
            if held:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()
