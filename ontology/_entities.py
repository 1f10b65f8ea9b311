"""Entities: create, get, query by type, status and owner, patch, soft delete, restore."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, get_args

from sqlalchemy import Select, bindparam, insert, sql, update
from sqlalchemy.engine import Connection
from sqlmodel import Session, col, select

from ontology._paging import check_length, keyset_page, where_equal
from ontology._records import Entity, Page, Status, from_ms, now_ms
from ontology._scope import LISTED, Scope, among, bound, new_id
from ontology._tables import ConnectionRow, EntityRow
from ontology.errors import ConstraintViolationError, InvalidInputError, NotFoundError

_STATUSES: tuple[str, ...] = get_args(Status)
_TABLE = EntityRow.__table__  # type: ignore[attr-defined]
_Values = Mapping[Any, Any]  # a row's values by column name (a `RowMapping` or a dict)

# The hot paths run these Core statements, built (and so compiled) once, on a plain
# connection: no ORM session or identity map, and rows become `Entity` records directly.
_GET = _TABLE.select().where(_TABLE.c.id == bindparam("id"))
# FOR NO KEY UPDATE: two patches of one entity on PostgreSQL must not lose each other's
# keys; and not FOR UPDATE, which also waits for the KEY SHARE locks that inserting a
# connection or event referring to the row takes, so two transactions that each wrote
# such a row and then patched the entity deadlocked.
_GET_FOR_UPDATE = _GET.with_for_update(key_share=True)
_INSERT = insert(_TABLE)
_UPDATE = update(_TABLE).where(_TABLE.c.id == bindparam("entity_id"))


@functools.cache
def _present(count: int) -> Select[tuple[str]]:
    """Which of `count` ids (`bound("id", ids)`) are entities not deleted."""
    return sql.select(_TABLE.c.id).where(
        among(_TABLE.c.id, "id", count), _TABLE.c.deleted_at.is_(None)
    )


class Entities:
    """The entities of a store (`store.entities`)."""

    def __init__(self, scope: Scope) -> None:
        self._scope = scope

    def create(
        self,
        type: str,
        name: str,
        properties: Mapping[str, Any] | None = None,
        *,
        status: Status = "active",
        id: str | None = None,
    ) -> Entity:
        """Create an entity of a catalogued `type`; its properties are validated."""
        props = self._scope.catalogue.validate("entity", type, properties)
        _check_name(name)
        _check_status(status)
        now = now_ms()
        row = {
            "id": id or new_id(),
            "type": type,
            "name": name,
            "properties": props,
            "status": status,
            "created_at": now,
            "updated_at": now,
            "deleted_at": None,
        }
        with self._scope.connection("write") as conn:
            check_length("id", id, 36)
            if id is not None and conn.execute(_GET, {"id": id}).first() is not None:
                raise ConstraintViolationError(f"entity id {id!r} is taken; pick another id")
            conn.execute(_INSERT, row)
            return _entity(row)

    def get(self, id: str, *, include_deleted: bool = False) -> Entity:
        """The entity `id`.

        Raises:
            NotFoundError: no such entity, or it is deleted (unless `include_deleted`).
        """
        with self._scope.connection("statement") as conn:
            row = _row(conn, id, include_deleted=include_deleted)
        return _entity(row)

    def find(self, id: str, *, include_deleted: bool = False) -> Entity | None:
        """The entity `id`, or None where `get` would raise `NotFoundError`."""
        with self._scope.connection("statement") as conn:
            row = conn.execute(_GET, {"id": id}).first()
        if row is None or (row.deleted_at is not None and not include_deleted):
            return None
        return _entity(row._mapping)

    def query(
        self,
        type: str | None = None,
        status: Status | None = None,
        *,
        owner: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
        include_deleted: bool = False,
        at_most: Mapping[str, float] | None = None,
    ) -> Page[Entity]:
        """Entities of a type and/or status (and that `owner` `owns`), oldest first, paged;
        `at_most`: only those whose numeric properties are at most these values (a
        scheduler's due schedules, without reading the others)."""
        if type is not None:
            self._scope.catalogue.get("entity", type)
        if status is not None:
            _check_status(status)
        query = where_equal(select(EntityRow), [(EntityRow.type, type), (EntityRow.status, status)])
        if owner is not None:
            owned = select(ConnectionRow.to_id).where(
                col(ConnectionRow.from_id) == owner, col(ConnectionRow.type) == "owns"
            )
            query = query.where(col(EntityRow.id).in_(owned))
        if not include_deleted:
            query = query.where(col(EntityRow.deleted_at).is_(None))
        for key, most in (at_most or {}).items():
            # As a float: epoch milliseconds overflow PostgreSQL's INTEGER.
            query = query.where(col(EntityRow.properties)[key].as_float() <= most)
        order = (col(EntityRow.created_at), col(EntityRow.id))
        with self._scope.read() as session:
            return keyset_page(session, query, order, Entity.of, limit=limit, cursor=cursor)

    def patch(
        self,
        id: str,
        properties: Mapping[str, Any] | None = None,
        *,
        name: str | None = None,
        status: Status | None = None,
    ) -> Entity:
        """Merge `properties` into the entity's (a key set to None is removed); rename; restatus."""
        with self._scope.connection("write") as conn:
            row = _row(conn, id, for_update=True)
            return self._patch(conn, row, properties, name=name, status=status)

    def increment(self, id: str, key: str, by: int = 1) -> Entity:
        """Add `by` to the entity's count `key` (0 if it has none), one writer at a time:
        concurrent increments all count.

        Raises:
            InvalidInputError: the property holds something other than a whole number.
        """
        with self._scope.connection("write") as conn:
            row = _row(conn, id, for_update=True)
            count = row["properties"].get(key, 0)
            if isinstance(count, bool) or not isinstance(count, int):
                raise InvalidInputError(key, f"is {count!r}, not a count; patch it to a number")
            return self._patch(conn, row, {key: count + by})

    def delete(self, id: str) -> Entity:
        """Soft-delete: hidden from gets and queries, kept with its history. Idempotent."""
        with self._scope.connection("write") as conn:
            row = _row(conn, id, include_deleted=True, for_update=True)
            if row["deleted_at"] is not None:
                return _entity(row)
            now = now_ms()
            return self._update(conn, row, {"deleted_at": now, "updated_at": now})

    def restore(self, id: str) -> Entity:
        """Undo a soft delete. Idempotent."""
        with self._scope.connection("write") as conn:
            row = _row(conn, id, include_deleted=True, for_update=True)
            if row["deleted_at"] is None:
                return _entity(row)
            return self._update(conn, row, {"deleted_at": None, "updated_at": now_ms()})

    def _patch(
        self,
        conn: Connection,
        row: _Values,
        properties: Mapping[str, Any] | None,
        *,
        name: str | None = None,
        status: Status | None = None,
    ) -> Entity:
        changes: dict[str, Any] = {}
        if properties:
            merged = {**row["properties"], **properties}
            merged = {k: v for k, v in merged.items() if v is not None}
            changes["properties"] = self._scope.catalogue.validate("entity", row["type"], merged)
        if name is not None:
            _check_name(name)
            changes["name"] = name
        if status is not None:
            _check_status(status)
            changes["status"] = status
        changes["updated_at"] = now_ms()
        return self._update(conn, row, changes)

    def _update(self, conn: Connection, row: _Values, changes: dict[str, Any]) -> Entity:
        conn.execute(_UPDATE, {**changes, "entity_id": row["id"]})
        if self._scope.session is not None:
            # An ORM object of this row in the caller's transaction (a listing's, while
            # still referenced) is stale now: drop it, so a later load reads the row anew.
            key = self._scope.session.identity_key(EntityRow, row["id"])
            stale = self._scope.session.identity_map.get(key)
            if stale is not None:
                self._scope.session.expunge(stale)
        return _entity({**row, **changes})


def _row(
    conn: Connection, id: str, *, include_deleted: bool = False, for_update: bool = False
) -> _Values:
    found = conn.execute(_GET_FOR_UPDATE if for_update else _GET, {"id": id}).first()
    if found is None:
        raise NotFoundError("entity", id)
    row = found._mapping
    if row["deleted_at"] is not None and not include_deleted:
        raise NotFoundError("entity", id, "it was deleted; restore it with entities.restore(id)")
    return row


def _entity(row: _Values) -> Entity:
    return Entity(
        id=row["id"],
        type=row["type"],
        name=row["name"],
        properties=row["properties"],
        status=row["status"],
        created_at=from_ms(row["created_at"]),
        updated_at=from_ms(row["updated_at"]),
        deleted_at=from_ms(row["deleted_at"]),
    )


def require(session: Session | Connection, ids: set[str]) -> None:
    """Raise `NotFoundError` naming the first of `ids` that is missing or deleted."""
    conn = session.connection() if isinstance(session, Session) else session
    listed = list(ids)
    found = set(conn.execute(_present(min(len(listed), LISTED + 1)), bound("id", listed)).scalars())
    missing = sorted(ids - found)
    if missing:
        raise NotFoundError("entity", missing[0], "create it first, or check the id")


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not name.strip():
        raise InvalidInputError("name", "must be a non-empty string")
    check_length("name", name, 10_000)


def _check_status(status: str) -> None:
    if status not in _STATUSES:
        raise InvalidInputError("status", f"{status!r} is not one of {', '.join(_STATUSES)}")
