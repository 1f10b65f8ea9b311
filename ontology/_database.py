"""The database under a store: engine, transactions, and the mapping of driver errors.

SQLite (the default) runs in WAL mode with foreign keys on and a busy timeout; every write
transaction starts with `BEGIN IMMEDIATE`, so a writer waits for the lock up front instead
of failing half-way on an upgrade from a read lock. PostgreSQL is used through psycopg 3.
A read of one statement runs without BEGIN and COMMIT (autocommit on PostgreSQL): a
statement reads one consistent snapshot on its own.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from sqlalchemy.pool import StaticPool
from sqlmodel import Session

from ontology.errors import (
    ConstraintViolationError,
    DatabaseLockedError,
    InvalidInputError,
    OntologyError,
    TransactionFailedError,
)

DEFAULT_DATA_DIR = ".one"
Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]
Mode = Literal["write", "read", "statement"]


def database_url(url: str | None = None) -> str:
    """The database to use: `url`, else `ONE_DATABASE_URL`, else SQLite under the data dir.

    The data directory is `ONE_DATA_DIR`, else `.one` in the working directory.
    `postgresql://` URLs are given the psycopg 3 driver.
    """
    url = url or os.environ.get("ONE_DATABASE_URL")
    if not url:
        data_dir = Path(os.environ.get("ONE_DATA_DIR", DEFAULT_DATA_DIR))
        return f"sqlite:///{data_dir / 'one.db'}"
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


@dataclass(frozen=True)
class Database:
    """An engine and the way to open read and write transactions on it."""

    url: str
    engine: Engine
    busy_timeout: float
    # An in-memory SQLite database is one connection: its transactions take turns.
    serial: _Turns | None = None
    _binds: dict[Mode, Engine] = field(init=False, repr=False, compare=False)
    _writers: _Turns | None = field(init=False, repr=False, compare=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @classmethod
    def connect(
        cls, url: str, *, busy_timeout: float = 5.0, synchronous: Synchronous = "NORMAL"
    ) -> Database:
        """Open (without touching the schema) the database at `url`."""
        if synchronous not in get_args(Synchronous):
            raise InvalidInputError("synchronous", f"must be one of {get_args(Synchronous)}")
        if busy_timeout < 0:
            raise InvalidInputError("busy_timeout", "must be 0 or more seconds")
        parsed = make_url(url)
        serial = None
        if parsed.get_backend_name() == "sqlite":
            engine = _sqlite_engine(url, busy_timeout, synchronous)
            if _is_memory(url):
                serial = _Turns("store.transaction() on an in-memory database", url)
        else:
            engine = create_engine(url, pool_pre_ping=True)
        return cls(
            url=parsed.render_as_string(hide_password=True),
            engine=engine,
            busy_timeout=busy_timeout,
            serial=serial,
        )

    def __post_init__(self) -> None:
        # Built once, not per transaction: `execution_options` copies the engine's options.
        statement = (
            {"isolation_level": "AUTOCOMMIT"}
            if self.dialect == "postgresql"
            else {"one_write": None}
        )
        binds = {
            "write": self.engine.execution_options(one_write=True),
            "read": self.engine.execution_options(one_write=False),
            "statement": self.engine.execution_options(**statement),
        }
        object.__setattr__(self, "_binds", binds)
        sqlite_file = self.dialect == "sqlite" and self.serial is None
        inside = "a write transaction on this database already"
        writers = _Turns(inside, self.url, self.busy_timeout) if sqlite_file else None
        object.__setattr__(self, "_writers", writers)

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One write transaction: committed at the end, rolled back whole on any error."""
        with self._session(write=True) as session:
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """One read transaction (a consistent snapshot; never takes the write lock)."""
        with self._session(write=False) as session:
            yield session

    @contextmanager
    def connection(self, mode: Mode) -> Iterator[Connection]:
        """A transaction on a plain connection (no ORM session: cheaper, for Core statements).

        `write` and `read` are as `write()` and `read()`; `statement` is for one statement
        that only reads (atomic on its own), and spares the BEGIN and COMMIT.
        """
        with self._translated(), self._turn(mode == "write"), self._binds[mode].begin() as conn:
            yield conn

    @contextmanager
    def _session(self, *, write: bool) -> Iterator[Session]:
        with (
            self._translated(),
            self._turn(write),
            Session(
                self._binds["write" if write else "read"], expire_on_commit=False, autoflush=False
            ) as session,
            session.begin(),
        ):
            yield session

    def _turn(self, write: bool) -> AbstractContextManager[Any]:
        """Wait for this transaction's turn: an in-memory database's one connection, or,
        for a write to a SQLite file, this process's other writers."""
        if self.serial is not None:
            return self.serial
        if write and self._writers is not None:
            return self._writers
        return nullcontext()

    @contextmanager
    def _translated(self) -> Iterator[None]:
        """Driver errors as the store's errors."""
        try:
            yield
        except OntologyError:
            raise
        except OperationalError as e:
            if getattr(e.orig, "sqlstate", None) in ("40P01", "40001"):  # deadlock, conflict
                raise TransactionFailedError(
                    f"{_failed(self.url, e)} (a conflict with a concurrent transaction: "
                    "nothing was written; retrying is safe)"
                ) from e
            if "database is locked" in str(e.orig) or "busy" in str(e.orig):
                raise DatabaseLockedError(self.url, self.busy_timeout) from e
            raise TransactionFailedError(_failed(self.url, e)) from e
        except DataError as e:
            raise InvalidInputError("data", f"the database refused a value: {e.orig}") from e
        except IntegrityError as e:
            raise ConstraintViolationError(
                f"the database refused the write: {e.orig}; nothing was written"
            ) from e
        except DBAPIError as e:
            raise TransactionFailedError(_failed(self.url, e)) from e

    def close(self) -> None:
        self.engine.dispose()


class _Turns:
    """Transactions that must take turns, one thread at a time, in this process: those
    on the one connection of an in-memory database, or the writers of a SQLite file.

    SQLite lets one writer in at a time, and one that finds the lock taken sleeps and
    polls (1, 2, 5, ... up to 100 ms a nap), so under many threads a short write could
    wait far longer than the writes before it took. Queued here, the next writer starts as
    the last one ends. (Other processes still meet SQLite's lock and its busy timeout.)
    A thread already in its turn is told so, rather than left waiting for itself.
    """

    def __init__(self, inside: str, url: str, timeout: float | None = None) -> None:
        self._lock = threading.Lock()
        self._owner: int | None = None
        self._inside, self._url, self._timeout = inside, url, timeout
        _all_turns.add(self)

    def forget_after_fork(self) -> None:
        """A forked child has none of its parent's turns, whatever the lock says."""
        self._lock, self._owner = threading.Lock(), None

    def __enter__(self) -> None:
        if self._owner == threading.get_ident():
            raise TransactionFailedError(
                f"this thread is inside {self._inside}: use the transaction (tx.entities, "
                "tx.events, ...), not the store, until it ends"
            )
        if self._timeout is None:
            self._lock.acquire()
        elif not self._lock.acquire(timeout=self._timeout):
            raise DatabaseLockedError(self._url, self._timeout)
        self._owner = threading.get_ident()

    def __exit__(self, *exc: object) -> None:
        self._owner = None
        self._lock.release()


_all_turns: weakref.WeakSet[_Turns] = weakref.WeakSet()


def _forget_turns_after_fork() -> None:
    for turns in list(_all_turns):
        turns.forget_after_fork()


os.register_at_fork(after_in_child=_forget_turns_after_fork)


def _failed(url: str, e: DBAPIError) -> str:
    return f"the database {url} failed the transaction ({e.orig}); nothing was written, retry it"


def _is_memory(url: str) -> bool:
    return make_url(url).database in (None, "", ":memory:")


def _sqlite_engine(url: str, busy_timeout: float, synchronous: Synchronous) -> Engine:
    parsed = make_url(url)
    memory = _is_memory(url)
    if not memory:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)  # type: ignore[arg-type]
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": busy_timeout},
        poolclass=StaticPool if memory else None,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy (below) issue BEGIN itself, so writes can use BEGIN IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA temp_store=MEMORY")
        # Checkpoint every ~40 MB of WAL rather than 4 MB: a batch of appends dirties
        # thousands of index pages, and checkpointing after nearly every commit cost ~20%.
        cursor.execute("PRAGMA wal_autocheckpoint=10000")
        cursor.execute("PRAGMA journal_size_limit=67108864")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("one_write", True)
        if write is not None:  # None: one statement that reads, atomic without BEGIN
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine
