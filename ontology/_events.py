"""The event log: append (one or many, idempotent by key), timelines, and runs.

Events are append-only; the database refuses UPDATE and DELETE on them (see the first
migration). Within a run, events get consecutive positions 0, 1, 2, ..., so a run reads
back in order from any position, as the seeds' EventStore does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, or_, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from ontology._entities import require
from ontology._paging import check_length, check_limit, keyset_page, where_equal
from ontology._records import Event, NewEvent, Page, from_ms, now_ms, to_ms
from ontology._scope import Scope
from ontology._tables import EventRow
from ontology.errors import IdempotencyConflictError, InvalidInputError, NotFoundError

_TABLE = EventRow.__table__  # type: ignore[attr-defined]
_COMPARED = ("type", "actor_id", "target_id", "run_id", "metadata")
_RACE_ATTEMPTS = 3


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
        with self._scope.write() as session:
            require(
                session, {r["actor_id"] for r in rows} | {r["target_id"] for r in rows} - {None}
            )
            if self._scope.dialect != "postgresql":
                return self._insert(session, rows)  # SQLite writers take turns: no race
            for attempt in range(_RACE_ATTEMPTS):
                try:
                    with session.begin_nested():
                        return self._insert(session, rows)
                except IntegrityError:
                    # Another transaction committed one of our keys first: the next
                    # attempt finds its event and compares against it.
                    if attempt == _RACE_ATTEMPTS - 1:
                        raise
        raise AssertionError("unreachable")

    def get(self, seq: int) -> Event:
        """The event at position `seq` of the log."""
        with self._scope.read() as session:
            row = session.get(EventRow, seq)
        if row is None:
            raise NotFoundError("event", str(seq))
        return Event.of(row)

    def find(self, idempotency_key: str) -> Event | None:
        """The event appended with `idempotency_key`, or None: has this already happened?"""
        with self._scope.read() as session:
            row = session.exec(
                select(EventRow).where(col(EventRow.idempotency_key) == idempotency_key)
            ).first()
        return None if row is None else Event.of(row)

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
        query = (
            select(EventRow)
            .where(EventRow.run_id == run_id, col(EventRow.run_position) >= from_position)
            .order_by(col(EventRow.run_position))
        )
        if limit is not None:
            check_limit(limit)
            query = query.limit(limit)
        with self._scope.read() as session:
            return [Event.of(r) for r in session.exec(query)]

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

    def _insert(self, session: Session, rows: list[dict[str, Any]]) -> list[Event]:
        stored = _stored_by_key(session, rows)
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
        if fresh:
            self._position(session, fresh)
            self._write(session, fresh)
        return [_event(stored[r["idempotency_key"]] if r["idempotency_key"] else r) for r in rows]

    def _write(self, session: Session, rows: list[dict[str, Any]]) -> None:
        """Insert `rows` in order, setting each one's `seq`."""
        if self._scope.dialect == "postgresql":
            written = session.execute(
                insert(_TABLE).returning(_TABLE.c.seq, sort_by_parameter_order=True), rows
            )
            for row, (seq,) in zip(rows, written, strict=True):
                row["seq"] = seq
            return
        # SQLite cannot return ids in parameter order from one statement (SQLAlchemy then
        # inserts row by row), but its writers take turns (BEGIN IMMEDIATE), so the next
        # positions are known: number the rows here and insert them with one executemany.
        last = session.exec(select(func.max(EventRow.seq))).one() or 0
        for seq, row in enumerate(rows, start=last + 1):
            row["seq"] = seq
        session.execute(insert(_TABLE), rows)

    def _position(self, session: Session, rows: list[dict[str, Any]]) -> None:
        """Number each run's new events after its last stored one."""
        runs = sorted({r["run_id"] for r in rows} - {None})
        if not runs:
            return
        if self._scope.dialect == "postgresql":
            # Serialise appends to one run across transactions (SQLite writers take turns),
            # locking in sorted order so that two batches never deadlock.
            for run in runs:
                session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:r))"), {"r": run})
        query = (
            select(EventRow.run_id, func.max(EventRow.run_position))
            .where(col(EventRow.run_id).in_(runs))
            .group_by(col(EventRow.run_id))
        )
        last = {run: pos for run, pos in session.exec(query) if pos is not None}
        following = {run: last.get(run, -1) + 1 for run in runs}
        for row in rows:
            if row["run_id"] is not None:
                row["run_position"] = following[row["run_id"]]
                following[row["run_id"]] += 1


def _stored_by_key(session: Session, rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    keys = {r["idempotency_key"] for r in rows} - {None}
    if not keys:
        return {}
    found = session.exec(select(EventRow).where(col(EventRow.idempotency_key).in_(keys)))
    return {r.idempotency_key: _as_row(r) for r in found if r.idempotency_key}


def _as_row(r: EventRow) -> dict[str, Any]:
    return {
        "seq": r.seq,
        "type": r.type,
        "actor_id": r.actor_id,
        "target_id": r.target_id,
        "metadata": r.metadata_,
        "run_id": r.run_id,
        "run_position": r.run_position,
        "idempotency_key": r.idempotency_key,
        "timestamp": r.timestamp,
    }


def _check_same(key: str, stored: dict[str, Any], new: dict[str, Any]) -> None:
    differences = [
        f"{field}: stored {stored[field]!r}, new {new[field]!r}"
        for field in _COMPARED
        if stored[field] != new[field]
    ]
    if differences:
        raise IdempotencyConflictError(key, differences)


def _event(row: dict[str, Any]) -> Event:
    return Event.model_construct(
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
