"""What an agent reads before it works: small, declarative pieces of the creator's world.

Each input is a frozen dataclass (so two specs built the same way are equal) that reads the
ontology, or the creator's knowledge, and returns plain JSON data, or None when it has
nothing to say. A developer writes a new input as one more such class.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from ontology import Entity, Event, Store, every

if TYPE_CHECKING:
    from agents._spec import AgentRegistry
    from knowledge import Knowledge

_MAX_SCANNED = 50_000  # events read for one input; a day of a busy creator fits


@dataclass(frozen=True)
class AgentContext:
    """Where an agent works: whose business, with which store and knowledge, and when."""

    store: Store
    creator_id: str
    registry: AgentRegistry
    knowledge: Knowledge | None = None
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def creator(self) -> Entity:
        return self.store.entities.get(self.creator_id)

    def agent_id(self, agent: str) -> str:
        from agents._spec import agent_entity_id

        return agent_entity_id(self.creator_id, agent)

    def events(self, since: datetime, until: datetime | None = None) -> Iterator[Event]:
        """The creator's events in a window: by or on the creator and what the creator owns.

        The graph runtime's own bookkeeping (`run_*`, `node_*`) is left out: it is about
        ONE, not about the business."""
        mine = {self.creator_id} | _owned(self.store, self.creator_id)
        bookkeeping = set(self.store.catalogue.names("event", "runtime"))
        cursor, seen = None, 0
        while seen < _MAX_SCANNED:
            page = self.store.events.timeline(
                since=since, until=until or self.now, limit=1_000, cursor=cursor
            )
            for event in page.items:
                if event.type in bookkeeping:
                    continue
                if event.actor_id in mine or event.target_id in mine:
                    yield event
            seen += len(page.items)
            cursor = page.next_cursor
            if cursor is None:
                return


class Input(Protocol):
    """One piece of an agent's prompt: a title, and data read from the context."""

    @property
    def title(self) -> str: ...

    def __call__(self, ctx: AgentContext) -> Any: ...


@dataclass(frozen=True)
class Profile:
    """The creator: name, niche, bio, audience, goals, products."""

    title: str = "creator profile"

    def __call__(self, ctx: AgentContext) -> Any:
        creator = ctx.creator()
        private = {"email", "phone", "address"}
        return {"name": creator.name} | {
            k: v for k, v in creator.properties.items() if k not in private
        }


@dataclass(frozen=True)
class RecentEvents:
    """What happened in the last `days`: counts by type and the latest few events."""

    days: int = 1
    latest: int = 15
    title: str = "recent events"

    def __call__(self, ctx: AgentContext) -> Any:
        events = list(ctx.events(ctx.now - timedelta(days=self.days)))
        if not events:
            return None
        return {
            "window_days": self.days,
            "counts": dict(Counter(e.type for e in events).most_common()),
            "latest": [_brief(e) for e in events[-self.latest :]],
        }


@dataclass(frozen=True)
class LatestOutput:
    """The last thing another agent wrote for this creator (e.g. strategy's plan)."""

    agent: str
    title: str = ""

    def __call__(self, ctx: AgentContext) -> Any:
        agent = ctx.store.entities.find(ctx.agent_id(self.agent))
        output_id = agent.properties.get("lastOutputId") if agent else None
        output = ctx.store.entities.find(output_id) if isinstance(output_id, str) else None
        if output is None:
            return None
        return {"id": output.id, "name": output.name, **output.properties.get("output", {})}


@dataclass(frozen=True)
class KnowledgeSearch:
    """Passages from the creator's own content that bear on `query`."""

    query: str
    k: int = 3
    chars: int = 400
    title: str = "from the creator's content"

    def __call__(self, ctx: AgentContext) -> Any:
        if ctx.knowledge is None:
            return None
        hits = ctx.knowledge.retriever(ctx.creator_id).search(self.query, k=self.k)
        return [{"source": h.chunk.title, "text": h.chunk.text[: self.chars]} for h in hits] or None


@dataclass(frozen=True)
class PendingMessages:
    """Fan messages waiting for a reply (see `receive_message`), each with the passage of
    the creator's content that best answers it when there is knowledge to search."""

    limit: int = 5
    chars: int = 300
    title: str = "pending fan messages"

    def __call__(self, ctx: AgentContext) -> Any:
        pending = pending_messages(ctx.store, ctx.creator_id, self.limit)
        retriever = ctx.knowledge.retriever(ctx.creator_id) if ctx.knowledge else None
        out = []
        for message in pending:
            text = str(message.properties["text"])
            item = {"message_id": message.id, "from": message.properties.get("fan"), "text": text}
            if retriever is not None and (hits := retriever.search(text, k=1)):
                item["creator_wrote"] = hits[0].chunk.text[: self.chars]
            out.append(item)
        return out or None


@dataclass(frozen=True)
class Money:
    """Revenue, refunds and costs in the window, summed here (not by the model)."""

    days: int = 1
    title: str = "money"

    def __call__(self, ctx: AgentContext) -> Any:
        return money(ctx, self.days)


@dataclass(frozen=True)
class EventMetrics:
    """Metrics computed from the creator's events: counts, interactions, revenue."""

    days: int = 1
    title: str = "metrics"

    def __call__(self, ctx: AgentContext) -> Any:
        return event_metrics(ctx, self.days)


def money(ctx: AgentContext, days: int) -> dict[str, float]:
    """Revenue from completed payments, refunds, and costs (ONE's model calls included)."""
    return _money(ctx.events(ctx.now - timedelta(days=days)))


def _money(events: Iterable[Event]) -> dict[str, float]:
    revenue = refunds = costs = model_costs = 0.0
    for event in events:
        meta = event.metadata
        if event.type == "payment_processed" and isinstance(meta.get("amount"), int | float):
            if meta.get("status") == "completed":
                revenue += float(meta["amount"])
            elif meta.get("status") == "refunded":
                refunds += float(meta["amount"])
        elif event.type == "cost_incurred" and isinstance(meta.get("amount"), int | float):
            costs += float(meta["amount"])
        elif event.type in ("agent_completed", "agent_failed") and meta.get("costUsd"):
            model_costs += float(meta["costUsd"])
    total_costs = costs + model_costs
    return {
        "revenue_usd": round(revenue - refunds, 2),
        "refunds_usd": round(refunds, 2),
        "costs_usd": round(total_costs, 4),
        "model_costs_usd": round(model_costs, 4),
        "net_usd": round(revenue - refunds - total_costs, 2),
    }


def event_metrics(ctx: AgentContext, days: int) -> dict[str, float]:
    events = list(ctx.events(ctx.now - timedelta(days=days)))  # read once, for both
    counts = Counter(e.type for e in events)
    figures = _money(events)
    return {
        "events": float(sum(counts.values())),
        "clone_interactions": float(counts["clone_interaction"]),
        "content_uploaded": float(counts["content_uploaded"]),
        "payments": float(counts["payment_processed"]),
        "agent_runs": float(counts["agent_completed"]),
        "agent_failures": float(counts["agent_failed"]),
        "revenue_usd": figures["revenue_usd"],
    }


def pending_messages(store: Store, creator_id: str, limit: int = 50) -> list[Entity]:
    """The creator's inbound fan messages not yet answered, oldest first."""
    messages = every(store.entities.query, "message", "active", owner=creator_id)
    inbound = (m for m in messages if m.properties.get("direction") == "inbound")
    return list(itertools.islice(inbound, limit))


def _owned(store: Store, creator_id: str) -> set[str]:
    owns = every(store.connections.query, creator_id, type="owns", limit=1_000)
    return {c.to_id for c in owns}


def _brief(event: Event) -> dict[str, Any]:
    meta = {
        k: v[:120] if isinstance(v, str) else v
        for k, v in event.metadata.items()
        if isinstance(v, str | int | float)
    }
    return {"type": event.type, "at": event.timestamp.isoformat(timespec="minutes"), **meta}
