"""What every provider simulator shares: durable state, idempotency keys, injected faults.

Like the real services: the same idempotency key with the same request returns the stored
response and repeats nothing; the same key with a different request is refused. A "lost"
failure performs the operation and then loses the response, as a network timeout after
the provider acted does; retrying with the same key then returns the stored response.

The state lives in SQLite: in memory by default, or in a file that several processes
share, as several clients of one real service do. Each call is one `BEGIN IMMEDIATE`
transaction, so two processes sending the same key at once get one effect and the same
response. Faults are stored too, so a test can arm them for a process it then starts;
the "crash" faults kill the calling process (SIGKILL) just before or just after the
provider acts, for crash tests.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from agents.providers.errors import (
    IdempotencyKeyReusedError,
    ProviderCallError,
    ProviderUnavailableError,
    ResponseLostError,
)

Fault = Literal["unavailable", "lost", "crash_before", "crash_after"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sim_responses (
    service TEXT, key TEXT, fingerprint TEXT, response TEXT, refusal TEXT,
    PRIMARY KEY (service, key));
CREATE TABLE IF NOT EXISTS sim_faults (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, service TEXT, operation TEXT, fault TEXT);
CREATE TABLE IF NOT EXISTS sim_counters (
    service TEXT, prefix TEXT, n INTEGER, PRIMARY KEY (service, prefix));
CREATE TABLE IF NOT EXISTS sim_objects (
    service TEXT, kind TEXT, id TEXT, value TEXT, PRIMARY KEY (service, kind, id));
"""


class Simulation:
    """Durable state, idempotency and injected faults for one simulated provider.

    `path` is a SQLite file shared by every process that opens it; without one the state
    is in memory, private to this object. Thread-safe; process-safe with a file.
    """

    def __init__(self, service: str, path: str | Path | None = None) -> None:
        self.service = service
        self.path = Path(path) if path else None
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        target = str(self.path) if self.path else ":memory:"
        self._db = sqlite3.connect(
            target, timeout=60, isolation_level=None, check_same_thread=False
        )
        if self.path:
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.RLock()
        self._in_call = False

    def fail(self, operation: str, fault: Fault = "unavailable", times: int = 1) -> None:
        """Make the next `times` calls of `operation` fail with `fault` (in any process)."""
        with self._write():
            self._db.executemany(
                "INSERT INTO sim_faults (service, operation, fault) VALUES (?, ?, ?)",
                [(self.service, operation, fault)] * times,
            )

    def new_id(self, prefix: str) -> str:
        """A deterministic id: the same sequence of calls gives the same ids."""
        with self._write():
            row = self._db.execute(
                "INSERT INTO sim_counters VALUES (?, ?, 1) ON CONFLICT (service, prefix) "
                "DO UPDATE SET n = n + 1 RETURNING n",
                (self.service, prefix),
            ).fetchone()
        return f"{prefix}_sim_{row[0]:06d}"

    def put(self, kind: str, id: str, value: Any) -> None:
        """Keep an object of the service's state (a charge, a ledger, a voice)."""
        with self._write():
            self._db.execute(  # an update keeps the row's rowid: `all` keeps first-kept order
                "INSERT INTO sim_objects (service, kind, id, value) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (service, kind, id) DO UPDATE SET value = excluded.value",
                (self.service, kind, id, json.dumps(value)),
            )

    def get(self, kind: str, id: str) -> Any | None:
        """An object of the service's state, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT value FROM sim_objects WHERE service = ? AND kind = ? AND id = ?",
                (self.service, kind, id),
            ).fetchone()
        return None if row is None else json.loads(row[0])

    def all(self, kind: str) -> dict[str, Any]:
        """Every object of a kind, in the order they were first kept."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, value FROM sim_objects WHERE service = ? AND kind = ? ORDER BY rowid",
                (self.service, kind),
            ).fetchall()
        return {id: json.loads(value) for id, value in rows}

    def call(
        self, operation: str, key: str, request: dict[str, Any], act: Callable[[], Any]
    ) -> Any:
        """Run `act` once per idempotency key, applying any injected fault.

        `act` returns a JSON value (what the service would send back); it runs inside
        the call's transaction, so its `put`s commit with the stored response or not at all.
        """
        fingerprint = hashlib.sha256(
            json.dumps([operation, request], sort_keys=True, default=str).encode()
        ).hexdigest()
        with self._write():
            fault = self._next_fault(operation)  # the network fails retries too
            if fault == "unavailable":
                raise ProviderUnavailableError(f"{self.service} is unavailable (simulated); retry")
            if fault == "crash_before":
                self._db.execute("COMMIT")  # the fault is used up: a restart must not crash again
                _die()
            stored = self._db.execute(
                "SELECT fingerprint, response, refusal FROM sim_responses "
                "WHERE service = ? AND key = ?",
                (self.service, key),
            ).fetchone()
            if stored is not None:
                if stored[0] != fingerprint:
                    raise IdempotencyKeyReusedError(self.service, key)
                if stored[2] is not None:
                    raise _refusal(stored[2])  # a refusal is stored under its key like a success
                response = json.loads(stored[1])
            else:
                try:
                    response = act()
                except ProviderCallError as refusal:
                    self._store(key, fingerprint, None, refusal)
                    raise
                self._store(key, fingerprint, response, None)
        if fault == "crash_after":
            _die()  # the provider acted and committed; the caller never hears of it
        if fault == "lost":
            raise ResponseLostError(
                f"{self.service} acted on {operation} but the response was lost (simulated); "
                "retry with the same idempotency key to get it"
            )
        return response

    def _next_fault(self, operation: str) -> Fault | None:
        row = self._db.execute(
            "DELETE FROM sim_faults WHERE seq = (SELECT MIN(seq) FROM sim_faults "
            "WHERE service = ? AND operation = ?) RETURNING fault",
            (self.service, operation),
        ).fetchone()
        return None if row is None else row[0]

    def _store(
        self, key: str, fingerprint: str, response: Any, refusal: ProviderCallError | None
    ) -> None:
        saved = None if refusal is None else json.dumps([type(refusal).__name__, str(refusal)])
        self._db.execute(
            "INSERT INTO sim_responses VALUES (?, ?, ?, ?, ?)",
            (self.service, key, fingerprint, json.dumps(response), saved),
        )

    @contextmanager
    def _write(self) -> Iterator[None]:
        """One immediate transaction (nested calls join the outer one)."""
        with self._lock:
            if self._in_call:
                yield
                return
            self._in_call = True
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException as error:
                # A refusal is part of the outcome (stored with its key): keep it.
                self._db.execute("COMMIT" if isinstance(error, ProviderCallError) else "ROLLBACK")
                raise
            else:
                self._db.execute("COMMIT")
            finally:
                self._in_call = False


def _refusal(saved: str) -> ProviderCallError:
    from agents.providers import errors

    name, message = json.loads(saved)
    kind = getattr(errors, name, None)
    if not (isinstance(kind, type) and issubclass(kind, ProviderCallError)):
        kind = ProviderCallError
    if kind is errors.IdempotencyKeyReusedError:
        kind = ProviderCallError
    return kind(message)


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)
