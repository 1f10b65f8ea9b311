"""Fans in the ontology: who they are, and the messages they send a creator."""

from __future__ import annotations

import uuid
from datetime import datetime

from ontology import Entity, Store
from ontology.errors import ConstraintViolationError, InvalidInputError

_IDS = uuid.UUID("a4d0c6f2-1b83-4f6e-9d27-5e8b0c3a7f41")
MAX_MESSAGE_CHARS = 8_000


def fan_entity_id(creator_id: str, handle: str) -> str:
    """The stable id of a fan of a creator, from the fan's handle (e.g. an API `user`)."""
    return str(uuid.uuid5(_IDS, f"fan\0{creator_id}\0{handle}"))


def fan(store: Store, creator_id: str, handle: str) -> Entity:
    """The fan `handle` of a creator, recorded (an `audience_member` following them) if new."""
    handle = handle.strip()
    if not handle:
        raise InvalidInputError("fan", "must be a non-empty handle")
    fan_id = fan_entity_id(creator_id, handle)
    found = store.entities.find(fan_id)
    if found is not None:
        return found
    store.entities.get(creator_id)  # a clear NotFoundError for an unknown creator
    try:
        with store.transaction() as tx:
            made = tx.entities.create(
                "audience_member", handle[:128], {"handle": handle}, id=fan_id
            )
            tx.connections.connect(fan_id, creator_id, "following")
            tx.events.append("user_joined", fan_id, creator_id, idempotency_key=f"joined:{fan_id}")
    except ConstraintViolationError:  # the same fan, at the same moment, from elsewhere
        return store.entities.get(fan_id)
    return made


def receive_message(
    store: Store,
    creator_id: str,
    handle: str,
    text: str,
    *,
    message_id: str | None = None,
    received_at: datetime | None = None,
) -> Entity:
    """Record a fan's message to a creator, waiting for a reply (the service agent's input).

    `message_id`, the message's id where it came from, makes recording it again harmless.
    """
    if not text.strip():
        raise InvalidInputError("text", "a message needs some text")
    if len(text) > MAX_MESSAGE_CHARS:
        raise InvalidInputError("text", f"longer than {MAX_MESSAGE_CHARS} characters")
    sender = fan(store, creator_id, handle)
    entity_id = (
        str(uuid.uuid5(_IDS, f"message\0{creator_id}\0{message_id}")) if message_id else None
    )
    if entity_id and (existing := store.entities.find(entity_id, include_deleted=True)):
        return existing
    properties = {
        "direction": "inbound",
        "fan": handle,
        "text": text,
        "receivedAt": (received_at.isoformat() if received_at else None),
        "externalId": message_id,
    }
    try:
        with store.transaction() as tx:
            message = tx.entities.create(
                "message", text[:60], {k: v for k, v in properties.items() if v}, id=entity_id
            )
            tx.connections.connect(creator_id, message.id, "owns")
            tx.connections.connect(sender.id, message.id, "authored")
            tx.events.append("user_engaged", sender.id, message.id, {"action": "sent_message"})
    except ConstraintViolationError:
        assert entity_id is not None
        return store.entities.get(entity_id)
    return message
