"""Pydantic models of the metadata that consolidated and discriminated types carry.

Field names are snake_case in Python and camelCase in storage, as the reference writes
them (`paymentId`, `interactionType`). Fields beyond the model are kept: the sources show
more keys than they define, and a developer may add their own.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

Protocol = Literal["a2a", "acp", "ap2", "x402", "ag-ui"]
Channel = Literal["email", "sms", "push", "in_app"]


class Metadata(BaseModel):
    """Base of every metadata model: camelCase in storage, extra keys kept."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="allow", frozen=True
    )

    protocol: Protocol | None = None


# Events: consolidated and discriminated (reference 3a).


class PaymentProcessed(Metadata):
    status: Literal["initiated", "completed", "failed", "refunded"]
    amount: float | None = Field(default=None, ge=0)
    currency: str | None = None
    payment_id: str | None = None
    method: str | None = None


class SubscriptionUpdated(Metadata):
    action: Literal["started", "renewed", "cancelled"]
    tier: str | None = None
    amount: float | None = Field(default=None, ge=0)
    next_billing_date: datetime | None = None


class ContentChanged(Metadata):
    action: Literal["created", "updated", "deleted"]
    content_type: str | None = None
    generated_by: str | None = None
    platform: str | None = None


class ContentInteracted(Metadata):
    interaction_type: Literal["viewed", "shared", "liked"]
    duration: float | None = Field(default=None, ge=0)
    source: str | None = None


class LivestreamStatusChanged(Metadata):
    status: Literal["scheduled", "started", "ended", "recording_saved"]
    stream_id: str | None = None
    platform: str | None = None
    rtmp_url: str | None = None


class LivestreamInteraction(Metadata):
    type: Literal["joined", "left", "message"]
    viewer_count: int | None = Field(default=None, ge=0)
    message: str | None = None


class NotificationDelivered(Metadata):
    channel: Channel
    message_id: str | None = None
    subject: str | None = None
    delivered_at: datetime | None = None
    read_at: datetime | None = None


class ReferralActivity(Metadata):
    action: Literal["created", "converted"]
    referral_code: str | None = None
    tokens_earned: float | None = Field(default=None, ge=0)


# Events the seeds' flows write.


class CreatorCreated(Metadata):
    email: str | None = None
    niche: str | None = None
    source: str | None = None


class CloneCreated(Metadata):
    content_count: int = Field(ge=0)
    voice_id: str | None = None
    personality: list[str] = Field(default_factory=list, description="the clone's traits")


class CloneInteraction(Metadata):
    message: str
    response: str
    tokens_used: int = Field(default=0, ge=0)
    sentiment: str | None = None
    sources: list[str] = Field(default_factory=list, description="ids of the chunks cited")


class VoiceCloned(Metadata):
    ai_clone_id: str
    voice_provider: str
    voice_id: str
    sample_count: int = Field(ge=0)


class AppearanceCloned(Metadata):
    ai_clone_id: str
    appearance_provider: str
    appearance_id: str
    image_count: int = Field(ge=0)


class AgentExecution(Metadata):
    """`agent_executed` and `agent_completed`: which agent did what, at what cost."""

    agent_type: str
    task: str | None = None
    run_id: str | None = None
    duration_ms: float | None = Field(default=None, ge=0)
    tokens: int | None = Field(default=None, ge=0)
    cost_usd: float | None = Field(default=None, ge=0)


class AgentFailed(AgentExecution):
    error: str


class TokensPurchased(Metadata):
    amount: float = Field(gt=0)
    usd_amount: float = Field(ge=0)
    payment_id: str
    tx_hash: str | None = None


class TokensMoved(Metadata):
    """`tokens_earned`, `tokens_burned`, `tokens_staked`, `tokens_unstaked`."""

    amount: float = Field(gt=0)
    reason: str | None = None
    tx_hash: str | None = None


class TokenDeployed(Metadata):
    contract_address: str
    network: str
    symbol: str | None = None


class MetricCalculated(Metadata):
    metric: str
    value: float
    change: float | None = None
    change_percent: float | None = None


class JourneyStepCompleted(Metadata):
    """A step of a journey (ELEVATE: hook, gift, identify, ... share) was completed."""

    journey_type: str = "elevate"
    step_id: str
    step_number: int | None = Field(default=None, ge=1)
    stars: int | None = Field(default=None, ge=0, le=3)


class ProgressUpdated(Metadata):
    journey_type: str
    step_id: str
    progress: float = Field(ge=0, le=1)


# Connections: consolidated (reference 2a) and the ones the flows read.


class Owns(Metadata):
    revenue_share: float | None = Field(default=None, ge=0, le=1)


class HoldsTokens(Metadata):
    balance: float = Field(ge=0)
    acquired_at: datetime | None = None


class EnrolledIn(Metadata):
    progress: float = Field(default=0, ge=0, le=1)
    enrolled_at: datetime | None = None
    last_accessed_at: datetime | None = None


class Transacted(Metadata):
    transaction_type: Literal["payment", "subscription", "invoice"]
    amount: float | None = Field(default=None, ge=0)
    currency: str | None = None
    payment_id: str | None = None
    subscription_id: str | None = None
    interval: str | None = None
    status: str | None = None


class Referred(Metadata):
    referral_type: Literal["direct", "conversion", "campaign"]
    source: str | None = None
    referral_code: str | None = None
    tokens_earned: float | None = Field(default=None, ge=0)
    status: str | None = None


class Notified(Metadata):
    channel: Channel
    campaign_id: str | None = None
    delivered_at: datetime | None = None
    read_at: datetime | None = None
    clicked: bool | None = None


# ONE's operations: schedules and API keys (entity properties, and their change events).


class Schedule(Metadata):
    """A cron schedule: run `name` (an agent, or a graph) for `creator_id` at every slot of
    `cron` in `timezone`, while `enabled` and until `end`. `next_run` (epoch ms) is the
    scheduler's bookmark: the first slot it has not yet considered."""

    creator_id: str
    target: Literal["agent", "graph"]
    name: str
    cron: str
    timezone: str = "UTC"
    enabled: bool = True
    end: datetime | None = None
    next_run: int | None = None


class ApiKey(Metadata):
    """An API key of ONE's server: the SHA-256 of the secret (never the secret), its first
    characters to recognise it by, and the creator it is scoped to (none: an admin key)."""

    creator_id: str | None = None
    sha256: str
    prefix: str


class Changed(Metadata):
    action: Literal["created", "updated", "removed"]
