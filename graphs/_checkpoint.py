"""Durable checkpointers: SQLite by default (a file beside the data), PostgreSQL by URL."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.sqlite import SqliteSaver
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_random


def default_url() -> str:
    """`ONE_CHECKPOINT_URL`, else `checkpoints.db` under `ONE_DATA_DIR` (default `.one/`)."""
    url = os.environ.get("ONE_CHECKPOINT_URL")
    if url:
        return url
    return f"sqlite:///{Path(os.environ.get('ONE_DATA_DIR', '.one')) / 'checkpoints.db'}"


@contextmanager
def checkpointer(
    url: str | None = None, *, busy_timeout: float = 30.0
) -> Iterator[BaseCheckpointSaver[str]]:
    """A checkpointer for `url` (`sqlite:///path` or `postgresql://...`), set up and closed.

    SQLite is opened for use from several threads (parallel nodes), with `busy_timeout`
    (seconds a write waits for another process's), in WAL mode with `synchronous=NORMAL`;
    PostgreSQL uses a connection pool in autocommit mode, as langgraph requires.
    """
    url = url or default_url()
    if url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        from langgraph.checkpoint.postgres import PostgresSaver
        from psycopg.rows import dict_row
        from psycopg_pool import ConnectionPool

        plain = url.replace("postgresql+psycopg://", "postgresql://")
        kwargs = {"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row}
        with ConnectionPool(plain, kwargs=kwargs, min_size=1, max_size=8, open=True) as pool:
            postgres = PostgresSaver(pool)  # type: ignore[arg-type]
            postgres.setup()
            yield postgres
        return
    if not url.startswith("sqlite:///"):
        raise ValueError(f"checkpoint URL {url!r}: use sqlite:///PATH or postgresql://...")
    path = Path(url.removeprefix("sqlite:///"))
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, check_same_thread=False, timeout=busy_timeout)
    # WAL (set by `setup`) with NORMAL: a commit survives the process crashing, without an
    # fsync each; the ontology's store makes the same choice.
    connection.execute("PRAGMA synchronous=NORMAL")
    try:
        saver = SqliteSaver(connection)
        _set_up(saver, wait=busy_timeout)
        yield saver
    finally:
        connection.close()


def _set_up(saver: SqliteSaver, *, wait: float) -> None:
    """`saver.setup()`, tried again for up to `wait` seconds (as long as a write waits)
    while another process sets up the same new file: SQLite refuses the switch to WAL
    then ("database is locked") without waiting."""
    for attempt in Retrying(
        stop=stop_after_delay(wait),
        wait=wait_random(0.01, 0.1),
        retry=retry_if_exception(_locked),
        reraise=True,
    ):
        with attempt:
            saver.setup()


def _locked(error: BaseException) -> bool:
    return isinstance(error, sqlite3.OperationalError) and "locked" in str(error)
