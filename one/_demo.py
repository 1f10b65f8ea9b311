"""ONE's main job on its embedded defaults; for now the ontology part of it.

Creates a sample creator with content, an AI clone, an agent and a fan in a fresh SQLite
file, records what happened as events, and prints the creator's timeline.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from ontology import Entity, Event, Store


def run_demo(path: Path, console: Console) -> list[Event]:
    """Build the sample creator in a fresh database at `path`; return their timeline."""
    for stale in path.parent.glob(path.name + "*"):
        stale.unlink()
    with Store.open(f"sqlite:///{path}") as store:
        creator_id = _populate(store)
        timeline = _timeline(store, creator_id)
        _print(console, store, path, timeline)
    return timeline


def _populate(store: Store) -> str:
    with store.transaction() as tx:
        maya = tx.entities.create("creator", "Maya Lin", {"niche": "home cooking"})
        tx.events.append("creator_created", maya.id, maya.id, {"niche": "home cooking"})
        for title, kind in [
            ("Knife skills in 10 minutes", "video"),
            ("Why I salt pasta water", "blog_post"),
        ]:
            item = tx.entities.create(kind, title, status="published")
            tx.connections.connect(maya.id, item.id, "owns")
            tx.events.append(
                "content_changed", maya.id, item.id, {"action": "created", "contentType": kind}
            )
        tx.tags.add(maya.id, "cooking", category="topic")
    with store.transaction() as tx:
        clone = tx.entities.create("ai_clone", "Maya's clone", status="draft")
        tx.connections.connect(maya.id, clone.id, "owns")
        tx.connections.connect(clone.id, maya.id, "clone_of")
        tx.events.append(
            "clone_created",
            maya.id,
            clone.id,
            {"contentCount": 2, "personality": ["warm", "precise"]},
        )
        agent = tx.entities.create("strategy_agent", "Strategy")
        tx.connections.connect(maya.id, agent.id, "owns")
        tx.events.append("agent_created", maya.id, agent.id, {"agentType": "strategy_agent"})
        fan = tx.entities.create("audience_member", "Sam")
        tx.connections.connect(fan.id, maya.id, "following")
        tx.events.append("user_joined", fan.id, maya.id)
        tx.events.append(
            "payment_processed",
            fan.id,
            maya.id,
            {"status": "completed", "amount": 25.0, "currency": "USD"},
        )
    return maya.id


def _timeline(store: Store, creator_id: str) -> list[Event]:
    by_actor = store.events.timeline(actor_id=creator_id).items
    about = store.events.timeline(target_id=creator_id).items
    unique = {e.seq: e for e in [*by_actor, *about]}
    return [unique[seq] for seq in sorted(unique)]


def _print(console: Console, store: Store, path: Path, timeline: list[Event]) -> None:
    names = {e.id: e.name for e in _entities(store, timeline)}
    table = Table(title=f"Maya Lin's timeline ({len(timeline)} events, {path})")
    table.add_column("#", justify="right")
    table.add_column("time (UTC)", no_wrap=True)
    table.add_column("event", no_wrap=True)
    table.add_column("actor → target", ratio=1)
    table.add_column("metadata", ratio=2, overflow="fold")
    for e in timeline:
        target = f" → {names.get(e.target_id, e.target_id)}" if e.target_id else ""
        table.add_row(
            str(e.seq),
            e.timestamp.strftime("%H:%M:%S"),
            e.type,
            names.get(e.actor_id, e.actor_id) + target,
            ", ".join(f"{k}={v}" for k, v in e.metadata.items()),
        )
    console.print(table)


def _entities(store: Store, timeline: list[Event]) -> list[Entity]:
    ids = {e.actor_id for e in timeline} | {e.target_id for e in timeline if e.target_id}
    return [store.entities.get(i) for i in ids]
