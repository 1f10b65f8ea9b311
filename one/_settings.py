"""ONE's settings: arguments, then the environment (`ONE_*`), then `.env`.

Every default works on a fresh machine with no keys and no servers: SQLite and Chroma on
disk under `data_dir`, the local model, schedules and runs in this process. Each server
of the distributed layout is one setting: `ONE_DATABASE_URL` (PostgreSQL: the ontology
and the checkpoints), `ONE_CHROMA_URL` (a Chroma server), `ONE_BROKER_URL` (Redis: runs
go to Celery workers).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Settings of ONE's front door. Every field can be set as `ONE_<FIELD>`."""

    model_config = SettingsConfigDict(env_prefix="ONE_", env_file=".env", extra="ignore")

    data_dir: Path = Path(".one")
    database_url: str | None = None  # default: SQLite at data_dir/one.db
    checkpoint_url: str | None = None  # default: the database_url's PostgreSQL, or SQLite
    chroma_url: str | None = None  # default: Chroma on disk at data_dir/chroma
    broker_url: str | None = None  # a Redis URL: runs go to Celery workers
    max_request_bytes: int = Field(default=1_000_000, gt=0)
    max_message_chars: int = Field(default=4_000, gt=0)
    scheduler_interval: float = Field(default=30.0, gt=0, description="seconds between ticks")
    busy_timeout: float = Field(
        default=5.0,
        ge=0,
        description="seconds a SQLite write (ontology, checkpoints) waits for other writers",
    )


def locked(database: str, waited: float, *, again: str) -> str:
    """What a user is told when another writer held `database` (its file's name, say) for
    longer than `busy_timeout` (`waited` seconds); `again` says how to try again."""
    return (
        f"the database {database} stayed locked by another writer for {waited:g} s, and the "
        f"write that waited was not made: {again}, or raise ONE_BUSY_TIMEOUT"
    )
