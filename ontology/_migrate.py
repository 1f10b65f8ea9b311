"""Bring a database's schema to the newest migration, safely with several processes.

Runs on first use of a store and from `make migrate`. Processes that open the same
database at once take turns (a file lock beside a SQLite file, an advisory lock on
PostgreSQL); the ones that come second find the schema current and do nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from filelock import FileLock
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError

from ontology._database import Database

_SCRIPTS = Path(__file__).parent / "_migrations"
_PG_LOCK_KEY = 0x0_0E_0E  # any constant; shared by every ONE process on the server


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    return config


def head() -> str:
    """The newest migration's revision id."""
    revision = ScriptDirectory.from_config(_config()).get_current_head()
    assert revision is not None
    return revision


def current(db: Database) -> str | None:
    """The revision the database is at, `None` for an empty database."""
    with db.engine.execution_options(one_write=False).connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(db: Database, revision: str = "head") -> None:
    """Apply every migration the database lacks, up to `revision`."""
    if revision == "head":
        try:
            if current(db) == head():
                return
        except OperationalError:
            pass  # another process is creating this database: wait for it under the lock

    with _exclusive(db), db.engine.connect() as conn:
        config = _config()
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
        conn.commit()


@contextmanager
def _exclusive(db: Database) -> Iterator[None]:
    if db.dialect == "postgresql":
        with db.engine.connect() as conn:
            _pg_lock(conn, "pg_advisory_lock")
            try:
                yield
            finally:
                _pg_lock(conn, "pg_advisory_unlock")
        return
    path = db.engine.url.database
    if path in (None, "", ":memory:"):
        yield
        return
    with FileLock(f"{path}.migrate.lock", timeout=max(db.busy_timeout, 30.0)):
        yield


def _pg_lock(conn: Connection, function: str) -> None:
    conn.execute(text(f"SELECT {function}(:key)"), {"key": _PG_LOCK_KEY})
    conn.commit()
