"""The four tables (entities, connections, events, tags) as SQLModel models.

Times are integer milliseconds since the epoch, as the reference stores them; the public
records (`ontology._records`) turn them into datetimes. The migrations in `_migrations/`
create exactly this schema; a test compares the two.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Index, Integer, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

_JSON = JSON().with_variant(JSONB(), "postgresql")
# SQLite makes only INTEGER PRIMARY KEY an alias of the rowid (autoincrementing);
# PostgreSQL needs a 64-bit identity for a log that grows without bound.
_SEQ = BigInteger().with_variant(Integer(), "sqlite")


def _present(column: str) -> dict[str, Any]:
    """Index only the rows where `column` is set: most events have no target, run or key."""
    where = text(f"{column} IS NOT NULL")
    return {"sqlite_where": where, "postgresql_where": where}


class EntityRow(SQLModel, table=True):
    __tablename__ = "entities"
    __table_args__ = (
        Index("ix_entities_type", "type", "created_at"),
        Index("ix_entities_status", "status", "created_at"),
        Index("ix_entities_type_status", "type", "status", "created_at"),
    )

    id: str = Field(primary_key=True, max_length=36)
    type: str = Field(max_length=64)
    name: str
    properties: dict[str, Any] = Field(sa_column=Column(_JSON, nullable=False))
    status: str = Field(max_length=16)
    created_at: int = Field(sa_type=BigInteger)
    updated_at: int = Field(sa_type=BigInteger)
    deleted_at: int | None = Field(default=None, sa_type=BigInteger)


class ConnectionRow(SQLModel, table=True):
    __tablename__ = "connections"
    __table_args__ = (
        Index("ix_connections_from", "from_id"),
        Index("ix_connections_to", "to_id"),
        Index("ix_connections_from_type", "from_id", "type"),
        Index("ix_connections_to_type", "to_id", "type"),
    )

    id: str = Field(primary_key=True, max_length=36)
    from_id: str = Field(sa_column=Column(String(36), ForeignKey("entities.id"), nullable=False))
    to_id: str = Field(sa_column=Column(String(36), ForeignKey("entities.id"), nullable=False))
    type: str = Field(max_length=64)
    metadata_: dict[str, Any] = Field(sa_column=Column("metadata", _JSON, nullable=False))
    strength: float | None = None
    valid_from: int | None = Field(default=None, sa_type=BigInteger)
    valid_to: int | None = Field(default=None, sa_type=BigInteger)
    created_at: int = Field(sa_type=BigInteger)
    updated_at: int = Field(sa_type=BigInteger)


class EventRow(SQLModel, table=True):
    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_type", "type", "timestamp", "seq"),
        Index("ix_events_actor", "actor_id", "timestamp", "seq"),
        Index("ix_events_target", "target_id", "timestamp", "seq", **_present("target_id")),
        Index("ix_events_timestamp", "timestamp", "seq"),
        Index("ix_events_actor_type", "actor_id", "type", "timestamp", "seq"),
        Index(
            "ix_events_target_type",
            "target_id",
            "type",
            "timestamp",
            "seq",
            **_present("target_id"),
        ),
        Index(
            "ux_events_run_position",
            "run_id",
            "run_position",
            unique=True,
            **_present("run_id"),
        ),
        Index(
            "ux_events_idempotency_key",
            "idempotency_key",
            unique=True,
            **_present("idempotency_key"),
        ),
    )

    seq: int | None = Field(default=None, sa_column=Column(_SEQ, primary_key=True))
    type: str = Field(max_length=64)
    actor_id: str = Field(sa_column=Column(String(36), ForeignKey("entities.id"), nullable=False))
    target_id: str | None = Field(
        default=None, sa_column=Column(String(36), ForeignKey("entities.id"), nullable=True)
    )
    timestamp: int = Field(sa_type=BigInteger)
    metadata_: dict[str, Any] = Field(sa_column=Column("metadata", _JSON, nullable=False))
    run_id: str | None = Field(default=None, max_length=128)
    run_position: int | None = None
    idempotency_key: str | None = Field(default=None, max_length=256)


class TagRow(SQLModel, table=True):
    __tablename__ = "tags"

    id: str = Field(primary_key=True, max_length=36)
    name: str = Field(max_length=128, unique=True)
    category: str = Field(max_length=32)
    description: str | None = None
    color: str | None = Field(default=None, max_length=32)
    icon: str | None = Field(default=None, max_length=64)
    usage_count: int = 0
    created_at: int = Field(sa_type=BigInteger)


class EntityTagRow(SQLModel, table=True):
    __tablename__ = "entity_tags"
    __table_args__ = (Index("ix_entity_tags_tag", "tag_id"),)

    entity_id: str = Field(
        sa_column=Column(String(36), ForeignKey("entities.id"), primary_key=True)
    )
    tag_id: str = Field(sa_column=Column(String(36), ForeignKey("tags.id"), primary_key=True))
    created_at: int = Field(sa_type=BigInteger)
