"""ONE's ten business agents, each one spec, registered like a developer's own."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

from agents._spec import AgentSpec
from agents.inputs import (
    EventMetrics,
    Input,
    KnowledgeSearch,
    LatestOutput,
    Money,
    PendingMessages,
    Profile,
    RecentEvents,
)
from agents.outputs import (
    AssetBriefs,
    ContentPlan,
    FanReplies,
    FinanceFigures,
    InsightsAndMetrics,
    Report,
    Writer,
)

_VOICE = "Answer only with what the output schema asks for. Be concrete and brief."


class Okr(BaseModel):
    objective: str
    key_results: list[str] = Field(min_length=1)


class Milestone(BaseModel):
    week: int = Field(ge=1, le=13)
    goal: str


class StrategyPlan(BaseModel):
    """A 90-day plan: goals, OKRs and weekly milestones."""

    goals: list[str] = Field(min_length=1)
    okrs: list[Okr] = Field(min_length=1)
    milestones: list[Milestone] = Field(min_length=1)


class CalendarItem(BaseModel):
    day: date
    channel: str
    format: Literal["video", "short", "post", "article", "email", "livestream", "podcast"]
    topic: str


class ContentCalendar(BaseModel):
    """Dated content items across channels."""

    items: list[CalendarItem] = Field(min_length=1)


class FunnelStage(BaseModel):
    name: str
    offer: str
    conversion_goal_percent: float = Field(ge=0, le=100)


class FunnelPlan(BaseModel):
    stages: list[FunnelStage] = Field(min_length=1)


class Reply(BaseModel):
    message_id: str
    reply: str


class ServiceReplies(BaseModel):
    """Replies to pending fan messages."""

    replies: list[Reply]


class AssetBrief(BaseModel):
    for_topic: str
    asset: str
    notes: str


class DesignBriefs(BaseModel):
    briefs: list[AssetBrief] = Field(min_length=1)


class Finding(BaseModel):
    claim: str
    evidence: str


class ResearchFindings(BaseModel):
    findings: list[Finding] = Field(min_length=1)


class Automation(BaseModel):
    task: str
    how: str
    hours_saved_per_week: float = Field(ge=0)


class AutomationProposals(BaseModel):
    proposals: list[Automation] = Field(min_length=1)


class FinanceReport(BaseModel):
    """A daily report from payment and cost events."""

    revenue_usd: float
    costs_usd: float
    net_usd: float
    notes: list[str] = Field(default_factory=list)


class CheckItem(BaseModel):
    item: str
    status: Literal["ok", "missing", "review"]


class ComplianceChecklist(BaseModel):
    checks: list[CheckItem] = Field(min_length=1)


class Metric(BaseModel):
    name: str
    value: float


class Insights(BaseModel):
    """Insights and metrics computed from the creator's events."""

    insights: list[str] = Field(min_length=1)
    metrics: list[Metric] = Field(default_factory=list)


def _spec(
    name: str,
    role: str,
    task: str,
    output: type[BaseModel],
    capabilities: tuple[str, ...],
    schedule: str | None,
    inputs: tuple[Input, ...],
    writes: Writer,
    reports_to: str | None = "strategy_agent",
) -> AgentSpec:
    prompt = f"You are the {role} agent of a creator's business. {task} {_VOICE}"
    return AgentSpec(
        name=name,
        role=role,
        system_prompt=prompt,
        output=output,
        capabilities=capabilities,
        schedule=schedule,
        reports_to=reports_to,
        inputs=inputs,
        writes=writes,
    )


_PLAN = LatestOutput("strategy_agent", "90-day plan")
_INSIGHTS = LatestOutput("intelligence_agent", "latest insights")
_CALENDAR = LatestOutput("marketing_agent", "content calendar")

BUILTIN_AGENTS: tuple[AgentSpec, ...] = (
    _spec(
        "strategy_agent",
        "strategy",
        "Write the creator's 90-day plan: goals, OKRs, weekly milestones.",
        StrategyPlan,
        ("goal_setting", "okr_planning", "vision"),
        "0 6 * * 1",
        (Profile(), _INSIGHTS, KnowledgeSearch("what the creator teaches, makes and sells")),
        Report("strategy_plan", "90-day plan"),
        reports_to=None,
    ),
    _spec(
        "research_agent",
        "research",
        "Report market findings with their evidence.",
        ResearchFindings,
        ("market_research", "trends", "competitors"),
        "0 7 * * 1",
        (Profile(), _PLAN, KnowledgeSearch("questions fans ask most")),
        Report("market_research", "market findings"),
    ),
    _spec(
        "marketing_agent",
        "marketing",
        "Plan a dated content calendar for the coming days from the plan's goals.",
        ContentCalendar,
        ("content_strategy", "seo", "distribution"),
        "0 8 * * *",
        (Profile(), _PLAN, _INSIGHTS),
        ContentPlan(),
    ),
    _spec(
        "sales_agent",
        "sales",
        "Design the sales funnel for the creator's products.",
        FunnelPlan,
        ("funnel_design", "conversion", "follow_up"),
        "0 9 * * 1",
        (Profile(), _PLAN, Money(days=30)),
        Report("funnel_plan", "sales funnel"),
    ),
    _spec(
        "service_agent",
        "service",
        "Reply to each pending fan message by its message_id, kindly and in the creator's "
        "voice, using what the creator wrote.",
        ServiceReplies,
        ("support", "onboarding", "success"),
        "0 22 * * *",
        (Profile(), PendingMessages()),
        FanReplies(),
    ),
    _spec(
        "design_agent",
        "design",
        "Brief the assets the planned content needs, one brief per planned topic.",
        DesignBriefs,
        ("brand", "ui_ux", "assets"),
        "0 9 * * *",
        (Profile(), _CALENDAR),
        AssetBriefs(),
    ),
    _spec(
        "engineering_agent",
        "engineering",
        "Propose automations that save the creator time.",
        AutomationProposals,
        ("integration", "automation"),
        "0 10 * * 1",
        (Profile(), RecentEvents(days=7)),
        Report("automation_proposals", "automation proposals"),
    ),
    _spec(
        "finance_agent",
        "finance",
        "Report yesterday's revenue, costs and net from the money figures given, with notes.",
        FinanceReport,
        ("revenue_tracking", "forecasting", "costs"),
        "0 5 * * *",
        (Money(days=1), RecentEvents(days=1)),
        FinanceFigures(),
    ),
    _spec(
        "legal_agent",
        "legal",
        "Check the creator's business for compliance gaps.",
        ComplianceChecklist,
        ("compliance", "contracts", "ip"),
        "0 11 * * 1",
        (Profile(), RecentEvents(days=7), KnowledgeSearch("sponsors, refunds, privacy, prices")),
        Report("compliance_checklist", "compliance checklist"),
    ),
    _spec(
        "intelligence_agent",
        "intelligence",
        "Find insights in the creator's metrics and events.",
        Insights,
        ("data_analysis", "predictions", "optimization"),
        "0 4 * * *",
        (EventMetrics(days=1), RecentEvents(days=1)),
        InsightsAndMetrics(),
    ),
)
