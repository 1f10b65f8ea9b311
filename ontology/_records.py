"""The records the store returns and the inputs it takes, as frozen pydantic models."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, Generic, Literal, TypeVar, cast, overload

from pydantic import BaseModel, ConfigDict, Field

from ontology._tables import ConnectionRow, EntityRow, EventRow, TagRow

Status = Literal["active", "inactive", "draft", "published", "archived"]
TagCategory = Literal[
    "skill", "industry", "topic", "format", "goal", "audience", "technology", "status"
]

T = TypeVar("T")


def now_ms() -> int:
    """The current time in integer milliseconds since the epoch."""
    return time.time_ns() // 1_000_000


def to_ms(when: datetime) -> int:
    """A datetime as epoch milliseconds; a naive datetime is taken as UTC."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


@overload
def from_ms(ms: int) -> datetime: ...
@overload
def from_ms(ms: int | None) -> datetime | None: ...
def from_ms(ms: int | None) -> datetime | None:
    """Epoch milliseconds as an aware UTC datetime."""
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True)


class Entity(_Record):
    """A thing: a creator, a clone, an agent, a piece of content, a payment, ..."""

    id: str
    type: str
    name: str
    properties: dict[str, Any]
    status: Status
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = None

    @classmethod
    def of(cls, row: EntityRow) -> Entity:
        return cls(
            id=row.id,
            type=row.type,
            name=row.name,
            properties=row.properties,
            status=cast(Status, row.status),
            created_at=from_ms(row.created_at),
            updated_at=from_ms(row.updated_at),
            deleted_at=from_ms(row.deleted_at),
        )


class Connection(_Record):
    """A typed relationship from one entity to another."""

    id: str
    from_id: str
    to_id: str
    type: str
    metadata: dict[str, Any]
    strength: float | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: ConnectionRow) -> Connection:
        return cls(
            id=row.id,
            from_id=row.from_id,
            to_id=row.to_id,
            type=row.type,
            metadata=row.metadata_,
            strength=row.strength,
            valid_from=from_ms(row.valid_from),
            valid_to=from_ms(row.valid_to),
            created_at=from_ms(row.created_at),
            updated_at=from_ms(row.updated_at),
        )


class Event(_Record):
    """Something that happened, appended to the log and never changed.

    Attributes:
        seq: the event's position in the whole log (increasing).
        run_position: its position in its run (0, 1, 2, ...), when it belongs to one.
    """

    seq: int
    type: str
    actor_id: str
    target_id: str | None
    timestamp: datetime
    metadata: dict[str, Any]
    run_id: str | None = None
    run_position: int | None = None
    idempotency_key: str | None = None

    @classmethod
    def of(cls, row: EventRow) -> Event:
        """The record of a stored row (validated when it was written, so not again)."""
        assert row.seq is not None
        return cls.model_construct(
            seq=row.seq,
            type=row.type,
            actor_id=row.actor_id,
            target_id=row.target_id,
            timestamp=from_ms(row.timestamp),
            metadata=row.metadata_,
            run_id=row.run_id,
            run_position=row.run_position,
            idempotency_key=row.idempotency_key,
        )


class NewEvent(_Record):
    """An event to append (see `Events.append_many`).

    Attributes:
        idempotency_key: appending a key already in the log returns that event and
            writes nothing; the same key with different content is refused.
        timestamp: when it happened; now when not given.
    """

    type: str
    actor_id: str
    target_id: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    run_id: str | None = None
    idempotency_key: str | None = None
    timestamp: datetime | None = None


class Tag(_Record):
    """A label entities can carry."""

    id: str
    name: str
    category: TagCategory
    description: str | None = None
    color: str | None = None
    icon: str | None = None
    usage_count: int
    created_at: datetime

    @classmethod
    def of(cls, row: TagRow) -> Tag:
        return cls(
            id=row.id,
            name=row.name,
            category=cast(TagCategory, row.category),
            description=row.description,
            color=row.color,
            icon=row.icon,
            usage_count=row.usage_count,
            created_at=from_ms(row.created_at),
        )


class Page(_Record, Generic[T]):
    """One page of a listing; pass `next_cursor` back to get the next one (None: no more)."""

    items: list[T]
    next_cursor: str | None = None


def every(listing: Callable[..., Page[T]], *args: Any, **query: Any) -> Iterator[T]:
    """Every item of a paged listing, fetching each page as it is needed.

    Example: `for event in every(store.events.timeline, type="run_accepted", limit=500)`.
    """
    cursor: str | None = None
    while True:
        page = listing(*args, **query, cursor=cursor)
        yield from page.items
        cursor = page.next_cursor
        if cursor is None:
            return
