"""The database under a store: engine, transactions, and the mapping of driver errors.

SQLite (the default) runs in WAL mode with foreign keys on and a busy timeout; every write
transaction starts with `BEGIN IMMEDIATE`, so a writer waits for the lock up front instead
of failing half-way on an upgrade from a read lock. PostgreSQL is used through psycopg 3.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
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
    serial: _Serial | None = None

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
                serial = _Serial()
        else:
            engine = create_engine(url, pool_pre_ping=True)
        return cls(
            url=parsed.render_as_string(hide_password=True),
            engine=engine,
            busy_timeout=busy_timeout,
            serial=serial,
        )

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
    def _session(self, *, write: bool) -> Iterator[Session]:
        bind = self.engine.execution_options(one_write=write)
        try:
            with (
                self.serial or nullcontext(),
                Session(bind, expire_on_commit=False, autoflush=False) as session,
                session.begin(),
            ):
                yield session
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


class _Serial:
    """Turns on the one connection of an in-memory database, one thread at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owner: int | None = None

    def __enter__(self) -> None:
        if self._owner == threading.get_ident():
            raise TransactionFailedError(
                "this thread is inside store.transaction() on an in-memory database: use "
                "the transaction (tx.entities, tx.events, ...), not the store, until it ends"
            )
        self._lock.acquire()
        self._owner = threading.get_ident()

    def __exit__(self, *exc: object) -> None:
        self._owner = None
        self._lock.release()


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
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine
