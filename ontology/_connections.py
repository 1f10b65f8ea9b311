"""Connections: typed relationships between two entities."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from ontology._entities import require
from ontology._paging import keyset_page, where_equal
from ontology._records import Connection, Page, now_ms, to_ms
from ontology._scope import Scope, new_id
from ontology._tables import ConnectionRow
from ontology.errors import InvalidInputError, NotFoundError


class Connections:
    """The connections of a store (`store.connections`)."""

    def __init__(self, scope: Scope) -> None:
        self._scope = scope

    def connect(
        self,
        from_id: str,
        to_id: str,
        type: str,
        metadata: Mapping[str, Any] | None = None,
        *,
        strength: float | None = None,
        valid_from: datetime | None = None,
        valid_to: datetime | None = None,
    ) -> Connection:
        """Connect two existing entities with a catalogued connection `type`.

        Raises:
            NotFoundError: either entity is missing or deleted.
            InvalidInputError: bad type, metadata, strength or validity window.
        """
        meta = self._scope.catalogue.validate("connection", type, metadata)
        _check_strength(strength)
        start, end = (to_ms(t) if t else None for t in (valid_from, valid_to))
        if start is not None and end is not None and end < start:
            raise InvalidInputError("valid_to", "must not be before valid_from")
        now = now_ms()
        row = ConnectionRow(
            id=new_id(),
            from_id=from_id,
            to_id=to_id,
            type=type,
            metadata_=meta,
            strength=strength,
            valid_from=start,
            valid_to=end,
            created_at=now,
            updated_at=now,
        )
        with self._scope.write() as session:
            require(session, {from_id, to_id})
            session.add(row)
            session.flush()
            return Connection.of(row)

    def get(self, id: str) -> Connection:
        """The connection `id`; `NotFoundError` if there is none."""
        with self._scope.read() as session:
            return Connection.of(_row(session, id))

    def query(
        self,
        from_id: str | None = None,
        to_id: str | None = None,
        type: str | None = None,
        *,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page[Connection]:
        """Connections from and/or to an entity, of a type; oldest first, paged."""
        if type is not None:
            self._scope.catalogue.get("connection", type)
        query = where_equal(
            select(ConnectionRow),
            [
                (ConnectionRow.from_id, from_id),
                (ConnectionRow.to_id, to_id),
                (ConnectionRow.type, type),
            ],
        )
        order = (col(ConnectionRow.created_at), col(ConnectionRow.id))
        with self._scope.read() as session:
            return keyset_page(session, query, order, Connection.of, limit=limit, cursor=cursor)

    def patch(
        self,
        id: str,
        metadata: Mapping[str, Any] | None = None,
        *,
        strength: float | None = None,
    ) -> Connection:
        """Merge `metadata` into the connection's (a key set to None is removed)."""
        _check_strength(strength)
        with self._scope.write() as session:
            row = _row(session, id, for_update=True)
            if metadata:
                merged = {k: v for k, v in {**row.metadata_, **metadata}.items() if v is not None}
                row.metadata_ = self._scope.catalogue.validate("connection", row.type, merged)
            if strength is not None:
                row.strength = strength
            row.updated_at = now_ms()
            session.add(row)
            session.flush()
            return Connection.of(row)

    def disconnect(self, id: str) -> None:
        """Remove the connection `id`; `NotFoundError` if there is none."""
        with self._scope.write() as session:
            session.delete(_row(session, id))
            session.flush()


def _row(session: Session, id: str, *, for_update: bool = False) -> ConnectionRow:
    row = session.get(ConnectionRow, id, with_for_update=for_update)
    if row is None:
        raise NotFoundError("connection", id)
    return row


def _check_strength(strength: float | None) -> None:
    if strength is not None and not 0.0 <= strength <= 1.0:
        raise InvalidInputError("strength", f"must be between 0 and 1, got {strength!r}")
