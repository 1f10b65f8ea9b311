"""The event log: append (one or many, idempotent by key), timelines, and runs.

Events are append-only; the database refuses UPDATE and DELETE on them (see the first
migration). Within a run, events get consecutive positions 0, 1, 2, ..., so a run reads
back in order from any position, as the seeds' EventStore does.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, func, insert, or_, sql, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from ontology._entities import require
from ontology._paging import check_length, check_limit, keyset_page, where_equal
from ontology._records import Event, NewEvent, Page, from_ms, now_ms, to_ms
from ontology._scope import LISTED, Scope, among, bound
from ontology._tables import EntityRow, EventRow
from ontology.errors import IdempotencyConflictError, InvalidInputError, NotFoundError

_TABLE = EventRow.__table__  # type: ignore[attr-defined]
_ENTITIES = EntityRow.__table__  # type: ignore[attr-defined]
_COMPARED = ("type", "actor_id", "target_id", "run_id", "metadata")
_RACE_ATTEMPTS = 3

# The hot paths run these Core statements, built (and so compiled) once, on a plain
# connection: no ORM session or row loading; rows become `Event` records directly.
_c = _TABLE.c
_SELECT = _TABLE.select()
_BY_SEQ = _SELECT.where(_c.seq == bindparam("seq"))
_BY_KEY = _SELECT.where(_c.idempotency_key == bindparam("key"))
_RUN = _SELECT.where(
    _c.run_id == bindparam("run"), _c.run_position >= bindparam("from_position")
).order_by(_c.run_position)
_RUN_LIMITED = _RUN.limit(bindparam("limit"))
_MAX_SEQ = _TABLE.select().with_only_columns(func.max(_c.seq)).scalar_subquery()
_MAX_POSITION = (
    _TABLE.select()
    .with_only_columns(func.max(_c.run_position))
    .where(_c.run_id == bindparam("run"))
    .scalar_subquery()
)
_LAST_SEQ = sql.select(_MAX_SEQ)
_LAST_POSITION = sql.select(_MAX_POSITION)
_LAST_SEQ_AND_POSITION = sql.select(_MAX_SEQ, _MAX_POSITION)
_LAST_POSITIONS = (
    _TABLE.select()
    .with_only_columns(_c.run_id, func.max(_c.run_position))
    .where(_c.run_id.in_(bindparam("runs", expanding=True)))
    .group_by(_c.run_id)
)
_INSERT = insert(_TABLE)
_INSERT_RETURNING = insert(_TABLE).returning(_c.seq, sort_by_parameter_order=True)
_LOCK_RUN = text("SELECT pg_advisory_xact_lock(hashtext(:r))")


class Events:
    """The event log of a store (`store.events`)."""

    def __init__(self, scope: Scope) -> None:
        self._scope = scope

    def append(
        self,
        type: str,
        actor_id: str,
        target_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        *,
        run_id: str | None = None,
        idempotency_key: str | None = None,
        timestamp: datetime | None = None,
    ) -> Event:
        """Append one event; see `append_many`."""
        new = NewEvent(
            type=type,
            actor_id=actor_id,
            target_id=target_id,
            metadata=dict(metadata or {}),
            run_id=run_id,
            idempotency_key=idempotency_key,
            timestamp=timestamp,
        )
        return self.append_many([new])[0]

    def append_many(self, events: Sequence[NewEvent]) -> list[Event]:
        """Append events in one transaction, in order; returns them as stored.

        An event whose idempotency key is already in the log is not written again: the
        stored event is returned in its place.

        Raises:
            UnknownTypeError, InvalidInputError: a bad type or metadata (nothing written).
            NotFoundError: an actor or target entity does not exist (nothing written).
            IdempotencyConflictError: a key reused for a different event (nothing written).
        """
        rows = [self._row(e) for e in events]
        if not rows:
            return []
        entities = {r["actor_id"] for r in rows} | {r["target_id"] for r in rows} - {None}
        with self._scope.connection("write") as conn:
            stored = _require_and_stored(conn, entities, rows)
            for attempt in range(1, _RACE_ATTEMPTS + 1):
                if self._written(conn, _fresh(rows, stored), last=attempt == _RACE_ATTEMPTS):
                    key = "idempotency_key"
                    return [_event(stored[r[key]] if r[key] else r) for r in rows]
                # Another transaction committed one of our keys first: this time, its
                # event is found and compared against.
                stored = _stored_by_key(conn, rows)
        raise AssertionError("unreachable")

    def get(self, seq: int) -> Event:
        """The event at position `seq` of the log."""
        with self._scope.connection("statement") as conn:
            row = conn.execute(_BY_SEQ, {"seq": seq}).first()
        if row is None:
            raise NotFoundError("event", str(seq))
        return _event(row._mapping)

    def find(self, idempotency_key: str) -> Event | None:
        """The event appended with `idempotency_key`, or None: has this already happened?"""
        with self._scope.connection("statement") as conn:
            row = conn.execute(_BY_KEY, {"key": idempotency_key}).first()
        return None if row is None else _event(row._mapping)

    def timeline(
        self,
        *,
        actor_id: str | None = None,
        target_id: str | None = None,
        type: str | None = None,
        run_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        cursor: str | None = None,
        newest_first: bool = False,
        involving: Sequence[str] | None = None,
        after_seq: int | None = None,
    ) -> Page[Event]:
        """Events by actor, target, type, run and time range (`since` <= t < `until`), paged;
        `involving`: whose actor or target is one of these ids; `after_seq`: appended after
        that event (to follow a timeline)."""
        if type is not None:
            self._scope.catalogue.get("event", type)
        query = where_equal(
            select(EventRow),
            [
                (EventRow.actor_id, actor_id),
                (EventRow.target_id, target_id),
                (EventRow.type, type),
                (EventRow.run_id, run_id),
            ],
        )
        if involving is not None:
            ids = list(involving)
            query = query.where(
                or_(col(EventRow.actor_id).in_(ids), col(EventRow.target_id).in_(ids))
            )
        if after_seq is not None:
            query = query.where(col(EventRow.seq) > after_seq)
        if since is not None:
            query = query.where(col(EventRow.timestamp) >= to_ms(since))
        if until is not None:
            query = query.where(col(EventRow.timestamp) < to_ms(until))
        # Following (`after_seq`): in the order of appending, so no event is passed over.
        order: tuple[Any, Any] = (col(EventRow.timestamp), col(EventRow.seq))
        if after_seq is not None:
            order = (col(EventRow.seq), col(EventRow.seq))
        with self._scope.read() as session:
            return keyset_page(
                session, query, order, Event.of, limit=limit, cursor=cursor, descending=newest_first
            )

    def read_run(
        self, run_id: str, from_position: int = 0, *, limit: int | None = None
    ) -> list[Event]:
        """A run's events in order, starting at `from_position` (0 is the first)."""
        if from_position < 0:
            raise InvalidInputError("from_position", "must be 0 or more")
        params: dict[str, Any] = {"run": run_id, "from_position": from_position}
        query = _RUN
        if limit is not None:
            check_limit(limit)
            query, params["limit"] = _RUN_LIMITED, limit
        with self._scope.connection("statement") as conn:
            rows = conn.execute(query, params).all()
        return [_event(r._mapping) for r in rows]

    def runs(self, *, limit: int = 100) -> list[str]:
        """The ids of the most recently active runs, newest first."""
        check_limit(limit)
        query = (
            select(EventRow.run_id, func.max(EventRow.seq).label("last"))
            .where(col(EventRow.run_id).is_not(None))
            .group_by(col(EventRow.run_id))
            .order_by(text("last DESC"))
            .limit(limit)
        )
        with self._scope.read() as session:
            return [run for run, _ in session.exec(query) if run is not None]

    def runs_ending_with(self, types: Sequence[str], *, among: Sequence[str]) -> list[str]:
        """The runs whose latest event of the types `among` is of one of `types`, in the
        order of those events: e.g. with `among` a run's start and endings, and `types`
        its start, the runs never ended. One query, however many runs the log holds."""
        for kind in {*types, *among}:
            self._scope.catalogue.get("event", kind)
        latest = (
            sql.select(_c.run_id, func.max(_c.run_position).label("position"))
            .where(_c.type.in_(list(among)), _c.run_id.is_not(None))
            .group_by(_c.run_id)
            .subquery()
        )
        query = (
            sql.select(_c.run_id)
            .join(latest, (_c.run_id == latest.c.run_id) & (_c.run_position == latest.c.position))
            .where(_c.type.in_(list(types)))
            .order_by(_c.seq)
        )
        with self._scope.connection("statement") as conn:
            return [str(run) for (run,) in conn.execute(query)]

    def _row(self, e: NewEvent) -> dict[str, Any]:
        if e.idempotency_key is not None and not e.idempotency_key.strip():
            raise InvalidInputError("idempotency_key", "must be a non-empty string or None")
        check_length("idempotency_key", e.idempotency_key, 256)
        check_length("run_id", e.run_id, 128)
        return {
            "type": e.type,
            "actor_id": e.actor_id,
            "target_id": e.target_id,
            "metadata": self._scope.catalogue.validate("event", e.type, e.metadata),
            "run_id": e.run_id,
            "idempotency_key": e.idempotency_key,
            "timestamp": to_ms(e.timestamp) if e.timestamp else now_ms(),
            "run_position": None,
        }

    def _written(self, conn: Connection, rows: list[dict[str, Any]], *, last: bool) -> bool:
        """Number and insert `rows`; False if, on PostgreSQL, another transaction committed
        one of their keys first (nothing is written then; on the `last` attempt, raise)."""
        if not rows:
            return True
        if self._scope.dialect != "postgresql" or all(r["idempotency_key"] is None for r in rows):
            # SQLite writers take turns; and without a new key there is no race to lose
            # (appends to one run take turns, see `_number`).
            self._number(conn, rows)
            self._write(conn, rows)
            return True
        try:
            with conn.begin_nested():
                self._number(conn, rows)
                self._write(conn, rows)
        except IntegrityError:
            if last:
                raise
            return False
        return True

    def _write(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        """Insert `rows` in order, setting each one's `seq` (numbered already on SQLite)."""
        if self._scope.dialect == "postgresql":
            written = conn.execute(_INSERT_RETURNING, rows)
            for row, (seq,) in zip(rows, written, strict=True):
                row["seq"] = seq
            return
        conn.execute(_INSERT, rows)

    def _number(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        """Number each run's new events after its last stored one; on SQLite, also number
        the events in the log (`seq`), after its last one.

        SQLite cannot return ids in parameter order from one statement (SQLAlchemy then
        inserts row by row), but its writers take turns (BEGIN IMMEDIATE), so the next
        positions are known: the rows are numbered here and inserted with one executemany.
        """
        runs = sorted({r["run_id"] for r in rows} - {None})
        sqlite = self._scope.dialect != "postgresql"
        if not sqlite:
            # Serialise appends to one run across transactions (SQLite writers take turns),
            # locking in sorted order so that two batches never deadlock.
            for run in runs:
                conn.execute(_LOCK_RUN, {"r": run})
        # Mostly one statement: the last seq (SQLite) with the one run's last position.
        last_seq: int | None = None
        last: dict[str, int] = {}
        if len(runs) == 1:
            if sqlite:
                last_seq, position = conn.execute(_LAST_SEQ_AND_POSITION, {"run": runs[0]}).one()
            else:
                position = conn.execute(_LAST_POSITION, {"run": runs[0]}).scalar()
            if position is not None:
                last[runs[0]] = position
        else:
            if runs:
                found = conn.execute(_LAST_POSITIONS, {"runs": runs})
                last = {run: pos for run, pos in found if pos is not None}
            if sqlite:
                last_seq = conn.execute(_LAST_SEQ).scalar()
        if sqlite:
            for seq, row in enumerate(rows, start=(last_seq or 0) + 1):
                row["seq"] = seq
        following = {run: last.get(run, -1) + 1 for run in runs}
        for row in rows:
            if row["run_id"] is not None:
                row["run_position"] = following[row["run_id"]]
                following[row["run_id"]] += 1


def _fresh(rows: list[dict[str, Any]], stored: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows to write: those whose key (if any) is not `stored`, where each stored one
    must be the same event (and `stored` gains the keys of the rows to write)."""
    fresh: list[dict[str, Any]] = []
    for row in rows:
        key = row["idempotency_key"]
        if key is None:
            fresh.append(row)
        elif key in stored:
            _check_same(key, stored[key], row)
        else:
            stored[key] = row  # a later duplicate in this batch compares against it
            fresh.append(row)
    return fresh


def _require_and_stored(
    conn: Connection, ids: set[str], rows: list[dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """`require(conn, ids)` and `_stored_by_key(conn, rows)`, in one statement."""
    keys = list({r["idempotency_key"] for r in rows} - {None})
    if not keys:
        require(conn, ids)
        return {}
    listed = list(ids)
    query = _present_and_stored(min(len(listed), LISTED + 1), min(len(keys), LISTED + 1))
    found = conn.execute(query, {**bound("id", listed), **bound("key", keys)}).all()
    if found[0].present < len(ids):
        require(conn, ids)  # names the first missing one
    stored = {}
    for r in found:
        if r.seq is not None:
            event = dict(r._mapping)
            del event["present"]
            stored[r.idempotency_key] = event
    return stored


@functools.cache
def _present_and_stored(ids: int, keys: int) -> Select[Any]:
    """How many of `ids` ids (`bound("id", ids)`) are entities not deleted, with each event
    appended with one of `keys` keys (`bound("key", keys)`): one row at least."""
    present = (
        sql.select(func.count().label("present"))
        .select_from(_ENTITIES)
        .where(among(_ENTITIES.c.id, "id", ids), _ENTITIES.c.deleted_at.is_(None))
        .subquery()
    )
    stored = present.outerjoin(_TABLE, among(_c.idempotency_key, "key", keys))
    query: Select[Any] = sql.select(present.c.present, *_c).select_from(stored)
    return query


def _stored_by_key(conn: Connection, rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    keys = {r["idempotency_key"] for r in rows} - {None}
    if not keys:
        return {}
    listed = list(keys)
    found = conn.execute(_stored(min(len(listed), LISTED + 1)), bound("key", listed))
    return {r.idempotency_key: dict(r._mapping) for r in found if r.idempotency_key}


@functools.cache
def _stored(count: int) -> Select[Any]:
    """The events appended with `count` idempotency keys (`bound("key", keys)`)."""
    query: Select[Any] = _SELECT.where(among(_c.idempotency_key, "key", count))
    return query


def _check_same(key: str, stored: dict[str, Any], new: dict[str, Any]) -> None:
    differences = [
        f"{field}: stored {stored[field]!r}, new {new[field]!r}"
        for field in _COMPARED
        if stored[field] != new[field]
    ]
    if differences:
        raise IdempotencyConflictError(key, differences)


def _event(row: Mapping[Any, Any]) -> Event:
    # Validating (a shallow copy of `metadata`) costs less than `model_construct`.
    return Event(
        seq=row["seq"],
        type=row["type"],
        actor_id=row["actor_id"],
        target_id=row["target_id"],
        timestamp=from_ms(row["timestamp"]),
        metadata=row["metadata"],
        run_id=row["run_id"],
        run_position=row["run_position"],
        idempotency_key=row["idempotency_key"],
    )
