"""API keys of ONE's server, each scoped to one creator (or, for operators, to all).

A key is `one_` and 40 random characters; ONE keeps only its SHA-256 (as the `api_key`
entity's properties, and in its id), so a key shown once cannot be read back.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from ontology import Entity, Store, every
from ontology.errors import NotFoundError

PREFIX = "one_"


@dataclass(frozen=True)
class Caller:
    """Who a request's key says it is: one creator's, or an admin (`creator_id` None)."""

    key_id: str
    creator_id: str | None

    @property
    def admin(self) -> bool:
        return self.creator_id is None

    def may(self, creator_id: str) -> bool:
        return self.admin or self.creator_id == creator_id


def create(store: Store, creator_id: str | None, *, name: str = "api key") -> tuple[Entity, str]:
    """A new key for `creator_id` (None: an admin key for every creator); the entity and
    the key itself, which is shown this once."""
    if creator_id is not None:
        store.entities.get(creator_id)  # a clear NotFoundError for an unknown creator
    secret = PREFIX + secrets.token_urlsafe(30)
    digest = _digest(secret)
    properties = {"sha256": digest, "prefix": secret[:10], "creatorId": creator_id}
    with store.transaction() as tx:
        made = tx.entities.create(
            "api_key",
            name,
            {k: v for k, v in properties.items() if v is not None},
            id=digest[:32],
        )
        if creator_id is not None:
            tx.connections.connect(creator_id, made.id, "owns")
        tx.events.append("api_key_changed", creator_id or made.id, made.id, {"action": "created"})
    return made, secret


def identify(store: Store, secret: str) -> Caller | None:
    """The caller a key belongs to, or None for a key that is unknown or revoked."""
    if not secret.startswith(PREFIX):
        return None
    digest = _digest(secret)
    found = store.entities.find(digest[:32])
    if found is None or found.type != "api_key" or found.status != "active":
        return None
    if not secrets.compare_digest(str(found.properties.get("sha256", "")), digest):
        return None
    creator = found.properties.get("creatorId")
    return Caller(found.id, str(creator) if creator else None)


def listing(store: Store, creator_id: str | None = None) -> list[Entity]:
    return list(every(store.entities.query, "api_key", owner=creator_id, limit=500))


def revoke(store: Store, key_id: str) -> Entity:
    found = store.entities.find(key_id)
    if found is None or found.type != "api_key":
        raise NotFoundError("api key", key_id)
    with store.transaction() as tx:
        revoked = tx.entities.patch(key_id, status="inactive")
        actor = str(found.properties.get("creatorId") or key_id)
        tx.events.append("api_key_changed", actor, key_id, {"action": "removed"})
    return revoked


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
