"""The four tables, their indexes, and the triggers that keep events append-only.

Revision ID: 0001_initial
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(JSONB(), "postgresql")
_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_ID = sa.String(36)


def _ms(name: str, nullable: bool = False) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "entities",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("properties", _JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _ms("created_at"),
        _ms("updated_at"),
        _ms("deleted_at", nullable=True),
    )
    op.create_index("ix_entities_type", "entities", ["type", "created_at"])
    op.create_index("ix_entities_status", "entities", ["status", "created_at"])
    op.create_index("ix_entities_type_status", "entities", ["type", "status", "created_at"])

    op.create_table(
        "connections",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("from_id", _ID, sa.ForeignKey("entities.id"), nullable=False),
        sa.Column("to_id", _ID, sa.ForeignKey("entities.id"), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("metadata", _JSON, nullable=False),
        sa.Column("strength", sa.Float(), nullable=True),
        _ms("valid_from", nullable=True),
        _ms("valid_to", nullable=True),
        _ms("created_at"),
        _ms("updated_at"),
    )
    op.create_index("ix_connections_from", "connections", ["from_id"])
    op.create_index("ix_connections_to", "connections", ["to_id"])
    op.create_index("ix_connections_from_type", "connections", ["from_id", "type"])
    op.create_index("ix_connections_to_type", "connections", ["to_id", "type"])

    op.create_table(
        "events",
        sa.Column("seq", _SEQ, primary_key=True, autoincrement=True),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("actor_id", _ID, sa.ForeignKey("entities.id"), nullable=False),
        sa.Column("target_id", _ID, sa.ForeignKey("entities.id"), nullable=True),
        _ms("timestamp"),
        sa.Column("metadata", _JSON, nullable=False),
        sa.Column("run_id", sa.String(128), nullable=True),
        sa.Column("run_position", sa.Integer(), nullable=True),
        sa.Column("idempotency_key", sa.String(256), nullable=True),
    )
    for name, columns in {
        "ix_events_type": ["type", "timestamp", "seq"],
        "ix_events_actor": ["actor_id", "timestamp", "seq"],
        "ix_events_timestamp": ["timestamp", "seq"],
        "ix_events_actor_type": ["actor_id", "type", "timestamp", "seq"],
    }.items():
        op.create_index(name, "events", columns)
    # Most events have no target, run or key: index only the rows that do.
    for name, columns, unique in [
        ("ix_events_target", ["target_id", "timestamp", "seq"], False),
        ("ix_events_target_type", ["target_id", "type", "timestamp", "seq"], False),
        ("ux_events_run_position", ["run_id", "run_position"], True),
        ("ux_events_idempotency_key", ["idempotency_key"], True),
    ]:
        where = sa.text(f"{columns[0]} IS NOT NULL")
        op.create_index(
            name, "events", columns, unique=unique, sqlite_where=where, postgresql_where=where
        )

    op.create_table(
        "tags",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("name", sa.String(128), nullable=False, unique=True),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("description", sa.String(), nullable=True),
        sa.Column("color", sa.String(32), nullable=True),
        sa.Column("icon", sa.String(64), nullable=True),
        sa.Column("usage_count", sa.Integer(), nullable=False),
        _ms("created_at"),
    )
    op.create_table(
        "entity_tags",
        sa.Column("entity_id", _ID, sa.ForeignKey("entities.id"), primary_key=True),
        sa.Column("tag_id", _ID, sa.ForeignKey("tags.id"), primary_key=True),
        _ms("created_at"),
    )
    op.create_index("ix_entity_tags_tag", "entity_tags", ["tag_id"])

    _append_only_events()


def _append_only_events() -> None:
    """Refuse UPDATE and DELETE on events in the database itself, not only in the API."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION one_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'events are append-only: % refused', TG_OP "
            "USING ERRCODE = 'integrity_constraint_violation'; END $$"
        )
        op.execute(
            "CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events "
            "FOR EACH ROW EXECUTE FUNCTION one_events_append_only()"
        )
        op.execute(
            "CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events "
            "FOR EACH STATEMENT EXECUTE FUNCTION one_events_append_only()"
        )
        return
    for operation in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER events_no_{operation.lower()} BEFORE {operation} ON events "
            f"BEGIN SELECT RAISE(ABORT, 'events are append-only: {operation} refused'); END"
        )


def downgrade() -> None:
    for table in ("entity_tags", "tags", "events", "connections", "entities"):
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS one_events_append_only()")
