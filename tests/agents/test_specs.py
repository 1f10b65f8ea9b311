"""Agents as specs: the ten built-ins, registration for a creator, and a developer's own."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import BaseModel

from agents import AgentRegistry, AgentSpec, Model, ScriptedChatModel, agent_entity_id
from agents._builtin_agents import (
    AssetBrief,
    AutomationProposals,
    CalendarItem,
    CheckItem,
    ComplianceChecklist,
    ContentCalendar,
    DesignBriefs,
    FinanceReport,
    FunnelPlan,
    Insights,
    ResearchFindings,
    ServiceReplies,
    StrategyPlan,
)
from agents.errors import ConfigurationError
from ontology import Store

SAMPLES: dict[str, BaseModel] = {
    "strategy_agent": StrategyPlan.model_validate(
        {
            "goals": ["Reach 50k subscribers"],
            "okrs": [{"objective": "Grow the channel", "key_results": ["3 videos a week"]}],
            "milestones": [{"week": 4, "goal": "Launch the knife course"}],
        }
    ),
    "research_agent": ResearchFindings.model_validate(
        {"findings": [{"claim": "Budget meals trend", "evidence": "search volume +40%"}]}
    ),
    "marketing_agent": ContentCalendar(
        items=[
            CalendarItem(
                day=date(2026, 12, 1), channel="youtube", format="video", topic="Knife skills"
            )
        ]
    ),
    "sales_agent": FunnelPlan.model_validate(
        {"stages": [{"name": "free guide", "offer": "pantry list", "conversion_goal_percent": 20}]}
    ),
    "service_agent": ServiceReplies.model_validate(
        {"replies": [{"message_id": "msg-01", "reply": "Thank you, Lena!"}]}
    ),
    "design_agent": DesignBriefs(
        briefs=[
            AssetBrief(
                for_topic="Knife skills", asset="thumbnail", notes="close-up of the claw grip"
            )
        ]
    ),
    "engineering_agent": AutomationProposals.model_validate(
        {
            "proposals": [
                {"task": "reply triage", "how": "label messages", "hours_saved_per_week": 2}
            ]
        }
    ),
    "finance_agent": FinanceReport(revenue_usd=120.0, costs_usd=20.0, net_usd=100.0),
    "legal_agent": ComplianceChecklist(checks=[CheckItem(item="privacy policy", status="ok")]),
    "intelligence_agent": Insights.model_validate(
        {"insights": ["Tuesday videos do best"], "metrics": [{"name": "ctr", "value": 0.07}]}
    ),
}


def test_the_ten_builtin_agents_are_the_catalogues_business_agents() -> None:
    registry = AgentRegistry.default()
    with Store.open("sqlite://") as store:
        assert sorted(registry.names()) == store.catalogue.names("entity", "business_agents")
    assert sorted(SAMPLES) == sorted(registry.names())


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_builtin_agent_gets_its_output_through_structured_output(name: str) -> None:
    spec = AgentRegistry.default().get(name)
    model = Model(ScriptedChatModel(replies=[SAMPLES[name]]), name="scripted")
    reply = model.invoke(spec.system_prompt, output=spec.output)
    assert reply.parsed == SAMPLES[name]
    sent = model.chat.calls[0]["kwargs"]  # type: ignore[attr-defined]
    assert sent["tools"][0]["function"]["name"] == spec.output.__name__


def test_registering_agents_for_a_creator_records_them_once() -> None:
    registry = AgentRegistry.default()
    with Store.open("sqlite://") as store:
        maya = store.entities.create("creator", "Maya").id
        strategy = registry.register_for(store, maya, "strategy_agent")
        marketing = registry.register_for(store, maya, "marketing_agent")
        assert registry.register_for(store, maya, "marketing_agent") == marketing
        assert marketing.id == agent_entity_id(maya, "marketing_agent")
        assert marketing.properties["capabilities"] == ["content_strategy", "seo", "distribution"]
        owned = {c.to_id for c in store.connections.query(from_id=maya, type="owns").items}
        assert {strategy.id, marketing.id} <= owned
        [manages] = store.connections.query(from_id=marketing.id, type="manages").items
        function = store.entities.get(manages.to_id)
        assert (function.type, function.name) == ("business_function", "marketing")
        assert function.id in owned and len(owned) == 4  # two agents, two functions
        reports = store.connections.query(from_id=marketing.id, type="reports_to").items
        assert [c.to_id for c in reports] == [strategy.id]
        created = store.events.timeline(actor_id=maya, type="agent_created").items
        assert [e.target_id for e in created] == [strategy.id, marketing.id]


class Giveaway(BaseModel):
    prize: str
    rules: list[str]


def test_a_developer_adds_an_eleventh_agent_with_one_spec() -> None:
    registry = AgentRegistry.default()
    spec = AgentSpec(
        name="community_agent",
        role="community",
        system_prompt="Plan a giveaway.",
        output=Giveaway,
        schedule="0 12 * * 5",
    )
    registry.register(spec)
    with Store.open("sqlite://") as store:
        maya = store.entities.create("creator", "Maya").id
        registry.register_for(store, maya, "strategy_agent")
        agent = registry.register_for(store, maya, "community_agent")
        assert agent.type == "community_agent"
        assert store.catalogue.get("entity", "community_agent").group == "business_agents"
    plan = Giveaway(prize="signed book", rules=["follow", "comment"])
    reply = Model(ScriptedChatModel(replies=[plan]), name="s").invoke("go", output=spec.output)
    assert reply.parsed == plan
    with pytest.raises(ConfigurationError, match="already registered"):
        registry.register(
            AgentSpec(name="community_agent", role="x", system_prompt="y", output=Giveaway)
        )
    with pytest.raises(ConfigurationError, match="known agents: .*strategy_agent"):
        registry.get("nonexistent_agent")


def test_reports_to_links_whichever_agent_is_registered_first() -> None:
    registry = AgentRegistry.default()
    with Store.open("sqlite://") as store:
        maya = store.entities.create("creator", "Maya").id
        order = [n for n in registry.names() if n != "strategy_agent"] + ["strategy_agent"]
        for name in order:  # the boss last: every report must still be linked to it
            registry.register_for(store, maya, name)
        strategy = agent_entity_id(maya, "strategy_agent")
        reports = store.connections.query(to_id=strategy, type="reports_to").items
        assert len(reports) == 9
        assert store.connections.query(from_id=strategy, type="reports_to").items == []


def test_a_deleted_agent_registered_again_is_restored() -> None:
    registry = AgentRegistry.default()
    with Store.open("sqlite://") as store:
        maya = store.entities.create("creator", "Maya").id
        agent = registry.register_for(store, maya, "legal_agent")
        store.entities.delete(agent.id)
        again = registry.register_for(store, maya, "legal_agent")
        assert again.id == agent.id and again.deleted_at is None
        assert len(store.events.timeline(type="agent_created").items) == 1
