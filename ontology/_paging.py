"""Keyset paging: a cursor is the sort key of the last item of the previous page."""

from __future__ import annotations

from ontology.errors import InvalidInputError

MAX_LIMIT = 1000


def encode_cursor(number: int, key: str | int) -> str:
    return f"{number}:{key}"


def decode_cursor(cursor: str) -> tuple[int, str]:
    number, sep, key = cursor.partition(":")
    if not sep or not number.lstrip("-").isdigit() or not key:
        raise InvalidInputError("cursor", f"{cursor!r} is not a cursor this store returned")
    return int(number), key


def check_limit(limit: int) -> None:
    if not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidInputError("limit", f"must be an integer from 1 to {MAX_LIMIT}, got {limit!r}")
