"""Where a store operation runs: its own transaction, or one the caller opened."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import uuid_utils
from sqlalchemy import ColumnElement, bindparam
from sqlalchemy.engine import Connection
from sqlmodel import Session

from ontology._catalogue import Catalogue
from ontology._database import Database, Mode

# Lists of up to this many values are bound one parameter each, so that a statement per
# length compiles once; SQLAlchemy re-renders an expanding IN at every execution.
LISTED = 8


def new_id() -> str:
    """A new id for an entity, connection or tag: a UUIDv7, so ids sort by creation."""
    return str(uuid_utils.uuid7())


def among(column: ColumnElement[Any], name: str, count: int) -> ColumnElement[bool]:
    """`column` is one of `count` values, bound by `bound(name, values)`."""
    if count > LISTED:
        return column.in_(bindparam(name, expanding=True))
    if count == 1:
        return column == bindparam(f"{name}_0")
    return column.in_([bindparam(f"{name}_{i}") for i in range(count)])


def bound(name: str, values: Sequence[Any]) -> dict[str, Any]:
    """The parameters of `among(column, name, len(values))`."""
    if len(values) > LISTED:
        return {name: list(values)}
    return {f"{name}_{i}": value for i, value in enumerate(values)}


@dataclass(frozen=True)
class Scope:
    """The database, the catalogue, and the transaction (if any) operations join.

    With no `session`, each operation runs in a transaction of its own; with one, every
    operation joins it and nothing is committed until the caller's transaction ends.
    """

    db: Database
    catalogue: Catalogue
    session: Session | None = None

    @property
    def dialect(self) -> str:
        return self.db.dialect

    def write(self) -> AbstractContextManager[Session]:
        return nullcontext(self.session) if self.session else self.db.write()

    def read(self) -> AbstractContextManager[Session]:
        return nullcontext(self.session) if self.session else self.db.read()

    def connection(self, mode: Mode) -> AbstractContextManager[Connection]:
        """A plain connection for Core statements: the caller's transaction's, when joined,
        else a transaction of its own (see `Database.connection`)."""
        if self.session is not None:
            return nullcontext(self.session.connection())
        return self.db.connection(mode)

    @contextmanager
    def joined(self) -> Iterator[Scope]:
        """A scope whose operations all commit together, or not at all."""
        if self.session is not None:
            yield self
            return
        with self.db.write() as session:
            yield Scope(self.db, self.catalogue, session)
