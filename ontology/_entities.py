"""Entities: create, get, query by type, status and owner, patch, soft delete, restore."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, get_args

from sqlmodel import Session, col, select

from ontology._paging import check_length, keyset_page, where_equal
from ontology._records import Entity, Page, Status, now_ms
from ontology._scope import Scope, new_id
from ontology._tables import ConnectionRow, EntityRow
from ontology.errors import ConstraintViolationError, InvalidInputError, NotFoundError

_STATUSES: tuple[str, ...] = get_args(Status)


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
        row = EntityRow(
            id=id or new_id(),
            type=type,
            name=name,
            properties=props,
            status=status,
            created_at=now,
            updated_at=now,
        )
        with self._scope.write() as session:
            check_length("id", id, 36)
            if id is not None and session.get(EntityRow, id) is not None:
                raise ConstraintViolationError(f"entity id {id!r} is taken; pick another id")
            session.add(row)
            session.flush()
            return Entity.of(row)

    def get(self, id: str, *, include_deleted: bool = False) -> Entity:
        """The entity `id`.

        Raises:
            NotFoundError: no such entity, or it is deleted (unless `include_deleted`).
        """
        with self._scope.read() as session:
            return Entity.of(_row(session, id, include_deleted=include_deleted))

    def find(self, id: str, *, include_deleted: bool = False) -> Entity | None:
        """The entity `id`, or None where `get` would raise `NotFoundError`."""
        with self._scope.read() as session:
            row = session.get(EntityRow, id)
        if row is None or (row.deleted_at is not None and not include_deleted):
            return None
        return Entity.of(row)

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
        with self._scope.write() as session:
            row = _row(session, id, for_update=True)
            if properties:
                merged = {**row.properties, **properties}
                merged = {k: v for k, v in merged.items() if v is not None}
                row.properties = self._scope.catalogue.validate("entity", row.type, merged)
            if name is not None:
                _check_name(name)
                row.name = name
            if status is not None:
                _check_status(status)
                row.status = status
            row.updated_at = now_ms()
            session.add(row)
            session.flush()
            return Entity.of(row)

    def delete(self, id: str) -> Entity:
        """Soft-delete: hidden from gets and queries, kept with its history. Idempotent."""
        with self._scope.write() as session:
            row = _row(session, id, include_deleted=True, for_update=True)
            if row.deleted_at is None:
                row.deleted_at = row.updated_at = now_ms()
                session.add(row)
                session.flush()
            return Entity.of(row)

    def restore(self, id: str) -> Entity:
        """Undo a soft delete. Idempotent."""
        with self._scope.write() as session:
            row = _row(session, id, include_deleted=True, for_update=True)
            if row.deleted_at is not None:
                row.deleted_at = None
                row.updated_at = now_ms()
                session.add(row)
                session.flush()
            return Entity.of(row)


def _row(
    session: Session, id: str, *, include_deleted: bool = False, for_update: bool = False
) -> EntityRow:
    # FOR NO KEY UPDATE: two patches of one entity on PostgreSQL must not lose each other's
    # keys; and not FOR UPDATE, which also waits for the KEY SHARE locks that inserting a
    # connection or event referring to the row takes, so two transactions that each wrote
    # such a row and then patched the entity deadlocked.
    lock = {"key_share": True} if for_update else False
    row = session.get(EntityRow, id, with_for_update=lock)
    if row is None:
        raise NotFoundError("entity", id)
    if row.deleted_at is not None and not include_deleted:
        raise NotFoundError("entity", id, "it was deleted; restore it with entities.restore(id)")
    return row


def require(session: Session, ids: set[str]) -> None:
    """Raise `NotFoundError` naming the first of `ids` that is missing or deleted."""
    found = set(
        session.exec(
            select(EntityRow.id).where(
                col(EntityRow.id).in_(ids), col(EntityRow.deleted_at).is_(None)
            )
        )
    )
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
