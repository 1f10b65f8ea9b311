"""Filtering and keyset paging, shared by every listing of the store.

A cursor is the sort key of the last item of the previous page, so pages stay stable
while rows are added, and each page costs one index range scan.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from sqlalchemy import Integer, and_, or_
from sqlmodel import Session
from sqlmodel.sql.expression import SelectOfScalar

from ontology._records import Page
from ontology.errors import InvalidInputError

MAX_LIMIT = 1000
R = TypeVar("R")
T = TypeVar("T")


def check_limit(limit: int) -> None:
    if not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidInputError("limit", f"must be an integer from 1 to {MAX_LIMIT}, got {limit!r}")


def check_length(field: str, value: str | None, most: int) -> None:
    """Refuse strings longer than their column (PostgreSQL enforces it; SQLite does not)."""
    if value is not None and len(value) > most:
        raise InvalidInputError(field, f"must be at most {most} characters, got {len(value)}")
    if value is not None and "\x00" in value:
        raise InvalidInputError(field, "must not contain NUL characters")


def where_equal(query: SelectOfScalar[R], pairs: Iterable[tuple[Any, Any]]) -> SelectOfScalar[R]:
    """`query` narrowed to rows whose column equals the value, for each value given."""
    for column, value in pairs:
        if value is not None:
            query = query.where(column == value)
    return query


def keyset_page(
    session: Session,
    query: SelectOfScalar[R],
    order: tuple[Any, Any],
    record: Callable[[R], T],
    *,
    limit: int,
    cursor: str | None,
    descending: bool = False,
) -> Page[T]:
    """One page of `query` sorted by `order` (a sort column and a unique tie-breaker)."""
    check_limit(limit)
    first, second = order
    direction = "d" if descending else "a"
    if cursor is not None:
        number, key = _decode(cursor, direction, int if isinstance(second.type, Integer) else str)
        if descending:
            query = query.where(or_(first < number, and_(first == number, second < key)))
        else:
            query = query.where(or_(first > number, and_(first == number, second > key)))
    ordering = (first.desc(), second.desc()) if descending else (first, second)
    rows = list(session.exec(query.order_by(*ordering).limit(limit + 1)))
    last = rows[limit - 1] if len(rows) > limit else None
    following = (
        f"{direction}:{getattr(last, first.key)}:{getattr(last, second.key)}" if last else None
    )
    return Page(items=[record(r) for r in rows[:limit]], next_cursor=following)


def _decode(cursor: str, direction: str, key_type: type) -> tuple[int, Any]:
    """(sort value, tie-breaker) of a cursor made for a listing in `direction`."""
    given, _, rest = cursor.partition(":")
    number, sep, key = rest.partition(":")
    if given in ("a", "d") and given != direction:
        raise InvalidInputError(
            "cursor", "was made for the other sort order; page with the order it came from"
        )
    try:
        if given != direction or not sep or not key:
            raise ValueError(cursor)
        return int(number), key_type(key)
    except ValueError:
        raise InvalidInputError(
            "cursor", f"{cursor!r} is not a cursor this store returned"
        ) from None
