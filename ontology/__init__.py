"""ONE's ontology: the data model every other package writes to.

Entities (things), connections (typed relationships) and events (an append-only log of
what happened), plus tags; a catalogue of their types as data; one store API over SQLite
(the default) or PostgreSQL. See `Store` to begin.
"""

from ontology import errors
from ontology._catalogue import Catalogue, ConnectionType, EntityType, EventType, Kind, TypeDef
from ontology._database import database_url
from ontology._metadata import Metadata
from ontology._records import (
    Connection,
    Entity,
    Event,
    NewEvent,
    Page,
    Status,
    Tag,
    TagCategory,
    every,
)
from ontology._store import Store, Transaction

__all__ = [
    "Catalogue",
    "Connection",
    "ConnectionType",
    "Entity",
    "EntityType",
    "Event",
    "EventType",
    "Kind",
    "Metadata",
    "NewEvent",
    "Page",
    "Status",
    "Store",
    "Tag",
    "TagCategory",
    "Transaction",
    "TypeDef",
    "database_url",
    "errors",
    "every",
]
