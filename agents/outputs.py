"""How an agent's answer becomes part of the ontology: entities, connections, corrections.

A writer gets a `Recorder` (open on one transaction) and the parsed output. It adds
entities (each owned by the creator and `generated_by` the agent, with an id derived from
the run's key so a replayed run writes nothing twice), links them, and returns the output
as recorded: figures the agent was given (finance's totals, intelligence's metrics) are
put back as computed, whatever the model wrote.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, get_args

from pydantic import BaseModel

from ontology import Entity, Status, Transaction

_CONTENT_TYPES = {
    "video": "video",
    "short": "video",
    "livestream": "livestream",
    "post": "social_post",
    "article": "blog_post",
    "email": "email",
    "podcast": "podcast",
}


class Recorder:
    """Writes one agent run's results inside a transaction."""

    def __init__(
        self,
        tx: Transaction,
        *,
        creator_id: str,
        agent_id: str,
        agent: str,
        key: str,
        facts: Mapping[str, Any],
        now: datetime,
    ) -> None:
        self.tx, self.creator_id, self.agent_id, self.agent = tx, creator_id, agent_id, agent
        self.key, self.facts, self.now = key, facts, now
        self.created: list[Entity] = []
        self.primary: Entity | None = None  # what the run made, as its event's target

    def add(
        self,
        type: str,
        name: str,
        properties: Mapping[str, Any],
        *,
        status: Status = "active",
    ) -> Entity:
        """A new entity owned by the creator and `generated_by` this agent."""
        entity_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"one:{self.key}:{len(self.created)}"))
        props = {**properties, "generatedBy": self.agent, "generatedAt": self.now.isoformat()}
        entity = self.tx.entities.create(
            type, name[:128] or type, props, status=status, id=entity_id
        )
        self.tx.connections.connect(self.creator_id, entity.id, "owns")
        self.tx.connections.connect(entity.id, self.agent_id, "generated_by")
        self.created.append(entity)
        self.primary = self.primary or entity
        return entity

    def link(
        self, from_id: str, to_id: str, type: str, metadata: Mapping[str, Any] | None = None
    ) -> None:
        self.tx.connections.connect(from_id, to_id, type, metadata)


class Writer(Protocol):
    def __call__(self, rec: Recorder, output: BaseModel) -> BaseModel: ...


@dataclass(frozen=True)
class Report:
    """The output as one `report` entity of kind `kind` (the default writer)."""

    kind: str
    title: str = ""

    def __call__(self, rec: Recorder, output: BaseModel) -> BaseModel:
        name = f"{self.title or self.kind.replace('_', ' ')} {rec.now.date().isoformat()}"
        rec.primary = rec.add("report", name, {"reportType": self.kind, "output": _dump(output)})
        return output


@dataclass(frozen=True)
class ContentPlan:
    """A calendar (`campaign`) with one draft content entity per dated item, `part_of` it."""

    def __call__(self, rec: Recorder, output: BaseModel) -> BaseModel:
        items: Sequence[Any] = getattr(output, "items", [])
        calendar = rec.add(
            "campaign", f"content calendar {rec.now.date().isoformat()}", {"kind": "calendar"}
        )
        planned = []
        for item in items:
            draft = rec.add(
                _CONTENT_TYPES.get(item.format, "social_post"),
                item.topic,
                {
                    "plannedFor": item.day.isoformat(),
                    "channel": item.channel,
                    "format": item.format,
                },
                status="draft",
            )
            rec.link(draft.id, calendar.id, "part_of")
            planned.append({"id": draft.id, **item.model_dump(mode="json")})
        rec.tx.entities.patch(calendar.id, {"output": {"items": planned}})
        return output


@dataclass(frozen=True)
class FanReplies:
    """A reply `message` per answered fan message, which is then archived (answered)."""

    def __call__(self, rec: Recorder, output: BaseModel) -> BaseModel:
        waiting = {m["message_id"] for m in rec.facts.get("pending fan messages") or []}
        kept = []
        for reply in getattr(output, "replies", []):
            if reply.message_id not in waiting or not reply.reply.strip():
                continue  # a reply to nothing we showed it: not sent
            waiting.discard(reply.message_id)
            sent = rec.add(
                "message",
                reply.reply[:60],
                {"direction": "outbound", "inReplyTo": reply.message_id, "text": reply.reply},
            )
            rec.link(sent.id, reply.message_id, "references")
            rec.tx.entities.patch(reply.message_id, {"repliedWith": sent.id}, status="archived")
            kept.append(reply)
        recorded = output.model_copy(update={"replies": kept})
        Report("fan_replies")(rec, recorded)
        return recorded


@dataclass(frozen=True)
class AssetBriefs:
    """A draft `media_asset` per brief, `references` the planned content it is for."""

    def __call__(self, rec: Recorder, output: BaseModel) -> BaseModel:
        plan = rec.facts.get("content calendar") or {}
        by_topic = {str(i["topic"]).casefold(): i["id"] for i in plan.get("items", [])}
        for brief in getattr(output, "briefs", []):
            asset = rec.add(
                "media_asset",
                brief.asset,
                {"brief": brief.notes, "forTopic": brief.for_topic},
                status="draft",
            )
            if (content_id := by_topic.get(brief.for_topic.casefold())) is not None:
                rec.link(asset.id, content_id, "references")
        Report("design_briefs")(rec, output)
        return output


@dataclass(frozen=True)
class FinanceFigures:
    """The daily report, its figures as summed from the events (the model writes notes)."""

    def __call__(self, rec: Recorder, output: BaseModel) -> BaseModel:
        figures = rec.facts.get("money") or {}
        fixed = output.model_copy(
            update={k: figures[k] for k in ("revenue_usd", "costs_usd", "net_usd") if k in figures}
        )
        Report("daily_finance", "daily report")(rec, fixed)
        return fixed


@dataclass(frozen=True)
class InsightsAndMetrics:
    """An `insight` per insight, a report with the computed metrics; `analyzed_by` links."""

    def __call__(self, rec: Recorder, output: BaseModel) -> BaseModel:
        computed = rec.facts.get("metrics") or {}
        metric = get_args(type(output).model_fields["metrics"].annotation)[0]
        fixed = output.model_copy(
            update={"metrics": [metric(name=k, value=v) for k, v in computed.items()]}
        )
        Report("daily_analytics", "analytics")(rec, fixed)
        for text in getattr(fixed, "insights", []):
            rec.add("insight", text[:80], {"text": text})
        rec.link(rec.creator_id, rec.agent_id, "analyzed_by", {"at": rec.now.isoformat()})
        return fixed


def _dump(output: BaseModel) -> dict[str, Any]:
    return output.model_dump(mode="json")
