"""Exclusive holds on a name, across every process using the same database, released
when their holder ends or dies: PostgreSQL advisory locks, or locks on bytes of one file
beside a SQLite database (in-memory databases: locks of this process)."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text

from ontology._database import Database, _is_memory

_local: set[str] = set()  # the names held in this process, for in-memory databases
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
            got = name not in _local
            _local.add(name)
        try:
            yield got
        finally:
            if got:
                with _local_guard:
                    _local.discard(name)
    else:
        database = Path(db.engine.url.database or "")
        holds = _holds_beside(database.parent / (database.name + ".holds"))
        offset = holds.take(name)
        try:
            yield offset is not None
        finally:
            if offset is not None:
                holds.give_back(offset)


class _ByteHolds:
    """Holds on names as POSIX record locks on one byte each of one file, at an offset
    from the name's hash: one file however many names are ever held, and the kernel
    releases a dead process's locks. Record locks belong to a process, not a thread, so
    the offsets this process holds are kept here too, to refuse a second of its threads.
    The file stays open for the life of the process: closing any descriptor of it would
    drop all of the process's locks on it."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        self._held: set[int] = set()
        self._guard = threading.Lock()

    def take(self, name: str) -> int | None:
        """The name's offset, now held; None if another process or thread holds it."""
        offset = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") >> 2
        with self._guard:
            if offset in self._held:
                return None
            try:
                fcntl.lockf(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, offset)
            except OSError as error:
                if error.errno in (errno.EACCES, errno.EAGAIN):
                    return None
                raise
            self._held.add(offset)
        return offset

    def give_back(self, offset: int) -> None:
        with self._guard:
            fcntl.lockf(self.fd, fcntl.LOCK_UN, 1, offset)
            self._held.discard(offset)


_files: dict[Path, _ByteHolds] = {}


def _holds_beside(path: Path) -> _ByteHolds:
    # One per file, however its path is spelled: two would let two threads hold a name.
    path = Path(os.path.realpath(path))
    with _local_guard:
        if path not in _files:
            _files[path] = _ByteHolds(path)
        return _files[path]


def _forget_after_fork() -> None:
    """A forked child holds none of its parent's locks (they are the parent's), and its
    copies of the parent's descriptors, held offsets and names say otherwise: drop them."""
    global _local_guard
    _local_guard = threading.Lock()  # another thread may have held it at the fork
    for holds in _files.values():
        os.close(holds.fd)
    _files.clear()
    _local.clear()


os.register_at_fork(after_in_child=_forget_after_fork)


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
