"""Errors raised by the ontology, grouped by who has to act on them.

```
OntologyError
├── CatalogueError               a developer registered a type wrongly (fix the code)
├── InvalidInputError            a caller passed bad data (fix the call; names field and why)
│   └── UnknownTypeError         a type the catalogue does not know (names the closest one)
├── NotFoundError                no such entity, connection or tag
├── ConstraintViolationError     the data would break a rule of the store
│   ├── IdempotencyConflictError an idempotency key reused for a different event
│   └── DuplicateTagError        the entity already carries this tag
└── TransactionFailedError       the database failed; nothing of the transaction was written
    └── DatabaseLockedError      another writer held the lock for longer than the busy timeout
```

Every message says what to do about it.
"""

from __future__ import annotations

__all__ = [
    "CatalogueError",
    "ConstraintViolationError",
    "DatabaseLockedError",
    "DuplicateTagError",
    "IdempotencyConflictError",
    "InvalidInputError",
    "NotFoundError",
    "OntologyError",
    "TransactionFailedError",
    "UnknownTypeError",
]


class OntologyError(Exception):
    """Root of every error the ontology raises."""


class CatalogueError(OntologyError):
    """A type was registered wrongly: a clash of names, or a bad definition."""


class InvalidInputError(OntologyError, ValueError):
    """A caller passed data the ontology refuses.

    Attributes:
        field: the name of the offending field (dotted for nested fields).
    """

    def __init__(self, field: str, why: str) -> None:
        self.field = field
        super().__init__(f"{field}: {why}")


class UnknownTypeError(InvalidInputError):
    """A type name the catalogue does not hold.

    Attributes:
        kind: "entity", "connection" or "event".
        name: the name that was asked for.
        suggestion: the closest known name, if any is close.
    """

    def __init__(self, kind: str, name: str, suggestion: str | None) -> None:
        self.kind = kind
        self.name = name
        self.suggestion = suggestion
        hint = (
            f"did you mean {suggestion!r}?"
            if suggestion
            else f"register it with Catalogue.register({kind.capitalize()}Type(...)) first"
        )
        super().__init__("type", f"unknown {kind} type {name!r}; {hint}")


class NotFoundError(OntologyError, LookupError):
    """No record with the given id (or name) exists."""

    def __init__(self, what: str, key: str, hint: str = "") -> None:
        self.what = what
        self.key = key
        message = f"no {what} {key!r}"
        super().__init__(f"{message}; {hint}" if hint else f"{message}; check the id")


class ConstraintViolationError(OntologyError):
    """The write would break a rule the store keeps (uniqueness, references, append-only)."""


class IdempotencyConflictError(ConstraintViolationError):
    """An idempotency key was reused for an event with different content."""

    def __init__(self, key: str, differences: list[str]) -> None:
        self.key = key
        self.differences = differences
        super().__init__(
            f"idempotency key {key!r} already names a different event "
            f"({'; '.join(differences)}); use a new key for a new event, "
            "or resend exactly the original event"
        )


class DuplicateTagError(ConstraintViolationError):
    """The entity already carries the tag."""

    def __init__(self, entity_id: str, tag: str) -> None:
        self.entity_id = entity_id
        self.tag = tag
        super().__init__(
            f"entity {entity_id!r} already has tag {tag!r}; "
            "nothing to add (check tags.of(entity_id) first if unsure)"
        )


class TransactionFailedError(OntologyError):
    """The database failed the transaction; none of its writes were kept."""


class DatabaseLockedError(TransactionFailedError):
    """Another writer held the database for longer than the busy timeout."""

    def __init__(self, url: str, waited_s: float) -> None:
        self.url = url
        self.waited_s = waited_s
        super().__init__(
            f"the database {url} stayed locked by another writer for {waited_s:g} s; "
            "nothing was written. Retry, stop the other writer, or raise the busy timeout "
            "(Store.open(..., busy_timeout=...))"
        )
