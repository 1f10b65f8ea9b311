"""The store: one API over entities, connections, events and tags, on SQLite or PostgreSQL."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import ParamSpec, TypeVar

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from ontology import _locks, _migrate
from ontology._catalogue import Catalogue
from ontology._connections import Connections
from ontology._database import Database, Synchronous, database_url
from ontology._entities import Entities
from ontology._events import Events
from ontology._scope import Scope
from ontology._tags import Tags
from ontology.errors import InvalidInputError, TransactionFailedError

P = ParamSpec("P")
T = TypeVar("T")


class _Operations:
    def __init__(self, scope: Scope) -> None:
        self.catalogue = scope.catalogue
        self.entities = Entities(scope)
        self.connections = Connections(scope)
        self.events = Events(scope)
        self.tags = Tags(scope)


class Transaction(_Operations):
    """Operations that commit together when the `with` block ends, or not at all.

    Has the same `entities`, `connections`, `events` and `tags` as a `Store`.
    """


class Store(_Operations):
    """The ontology: entities, connections, events and tags, with one API on any backend.

    Each call is a transaction of its own; `transaction()` groups several.

    Example:
        >>> store = Store.open("sqlite://")
        >>> ada = store.entities.create("creator", "Ada")
        >>> store.events.append("creator_created", ada.id, metadata={"niche": "math"}).type
        'creator_created'
        >>> with store.transaction() as tx:
        ...     clone = tx.entities.create("ai_clone", "Ada's clone")
        ...     _ = tx.connections.connect(ada.id, clone.id, "owns")
        >>> [c.type for c in store.connections.query(from_id=ada.id).items]
        ['owns']
    """

    def __init__(self, db: Database, catalogue: Catalogue | None = None) -> None:
        self._scope = Scope(db, catalogue or Catalogue.default())
        super().__init__(self._scope)

    @classmethod
    def open(
        cls,
        url: str | None = None,
        *,
        catalogue: Catalogue | None = None,
        busy_timeout: float = 5.0,
        synchronous: Synchronous = "NORMAL",
        migrate: bool = True,
    ) -> Store:
        """Open the store at `url`, applying any migration it lacks.

        Args:
            url: a SQLAlchemy URL (`sqlite:///path.db`, `sqlite://` for memory,
                `postgresql://user@host/db`); else `ONE_DATABASE_URL`; else
                `.one/one.db` under `ONE_DATA_DIR` or the working directory.
            catalogue: the types to accept; ONE's built-ins when not given.
            busy_timeout: seconds a SQLite writer waits for another to finish.
            synchronous: SQLite's fsync policy. `NORMAL` (WAL) keeps every committed
                transaction through a crash of the process; `FULL` also through a power cut.
            migrate: bring the schema up to date first (the default).
        """
        target = database_url(url)
        try:
            db = Database.connect(target, busy_timeout=busy_timeout, synchronous=synchronous)
            if migrate:
                _migrate.upgrade(db)
        except (ArgumentError, ModuleNotFoundError) as e:
            raise InvalidInputError(
                "url",
                f"{target!r} is not a database ONE can use ({e}); give a sqlite:/// "
                "path or a postgresql:// URL",
            ) from e
        except OSError as e:
            raise InvalidInputError("url", f"cannot create the database file: {e}") from e
        except OperationalError as e:
            raise TransactionFailedError(
                f"cannot open the database {make_url(target).render_as_string()}: {e.orig}; "
                "check that the server is up and the URL, user and password are right"
            ) from e
        return cls(db, catalogue)

    @property
    def url(self) -> str:
        """The database URL, password hidden."""
        return self._scope.db.url

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """A transaction: every write inside commits at the end, or none does."""
        with self._scope.joined() as scope:
            yield Transaction(scope)

    @contextmanager
    def hold(self, name: str) -> Iterator[bool]:
        """Try to hold `name`, exclusively among every process on this database, without
        waiting: yields True while held (released at the end of the block, or when the
        process dies), False if someone else holds it now.

        Example: `with store.hold(f"drive:{run_id}") as mine: if mine: ...`.
        """
        with _locks.hold(self._scope.db, name) as held:
            yield held

    async def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a store call from async code on a worker thread, not blocking the loop.

        Example: `event = await store.call(store.events.append, "user_joined", fan.id)`.
        """
        return await asyncio.to_thread(functools.partial(fn, *args, **kwargs))

    def close(self) -> None:
        """Release the database's connections."""
        self._scope.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
