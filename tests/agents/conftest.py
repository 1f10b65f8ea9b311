"""A sample creator's world for the agents' tests: Maya, her content, her fans' messages."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agents import AgentContext, AgentRegistry, receive_message
from knowledge import FakeEmbedder, Knowledge
from ontology import Store

SAMPLE = Path(__file__).parents[2] / "one" / "_samples" / "maya"
NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


@dataclass
class World:
    store: Store
    knowledge: Knowledge
    creator_id: str
    registry: AgentRegistry

    def ctx(self, now: datetime = NOW) -> AgentContext:
        return AgentContext(
            self.store, self.creator_id, self.registry, knowledge=self.knowledge, now=now
        )


def add_creator(store: Store, profile: dict[str, object]) -> str:
    props = {k: v for k, v in profile.items() if k != "name"}
    with store.transaction() as tx:
        creator = tx.entities.create("creator", str(profile["name"]), props)
        tx.events.append("creator_created", creator.id, creator.id, {"niche": props.get("niche")})
    return creator.id


@pytest.fixture
def world() -> Iterator[World]:
    """Maya with her content ingested (fake embedder, Chroma in memory) and 5 fan messages."""
    with Store.open("sqlite://") as store:
        creator_id = add_creator(store, json.loads((SAMPLE / "profile.json").read_text()))
        knowledge = Knowledge(store, embedder=FakeEmbedder(), namespace=f"t{uuid.uuid4().hex[:12]}")
        knowledge.ingest(creator_id, SAMPLE / "content")
        for message in json.loads((SAMPLE / "fan_messages.json").read_text()):
            receive_message(
                store,
                creator_id,
                message["fan"],
                message["message"],
                message_id=message["id"],
                received_at=datetime.fromisoformat(message["received_at"]),
            )
        yield World(store, knowledge, creator_id, AgentRegistry.default())
