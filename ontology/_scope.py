"""Where a store operation runs: its own transaction, or one the caller opened."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass

import uuid_utils
from sqlmodel import Session

from ontology._catalogue import Catalogue
from ontology._database import Database


def new_id() -> str:
    """A new id for an entity, connection or tag: a UUIDv7, so ids sort by creation."""
    return str(uuid_utils.uuid7())


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

    @contextmanager
    def joined(self) -> Iterator[Scope]:
        """A scope whose operations all commit together, or not at all."""
        if self.session is not None:
            yield self
            return
        with self.db.write() as session:
            yield Scope(self.db, self.catalogue, session)
