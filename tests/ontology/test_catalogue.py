from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from ontology import Catalogue, ConnectionType, EntityType, EventType, Kind
from ontology.errors import CatalogueError, InvalidInputError, UnknownTypeError


@pytest.fixture
def catalogue() -> Catalogue:
    return Catalogue.default()


def test_builtins_hold_the_reference_lists(catalogue: Catalogue) -> None:
    # Reference sections 1a (50 + 3 external), 2a (33), 3a (49) plus ONE's own groups.
    ours_entities = ("flows", "operations")
    ours = sum(len(catalogue.names("entity", group)) for group in ours_entities)
    assert len(catalogue.names("entity")) == 53 + ours
    assert len(catalogue.names("connection")) == 33
    ours = sum(len(catalogue.names("event", group)) for group in ("flows", "runtime", "operations"))
    assert len(catalogue.names("event", group=None)) == 49 + ours
    assert catalogue.names("entity", "external_integrations") == [
        "external_agent",
        "external_connection",
        "external_workflow",
    ]
    assert len(catalogue.names("entity", "business_agents")) == 10
    assert "journey_step_completed" in catalogue.names("event", "flows")


@pytest.mark.parametrize(
    ("kind", "group", "count"),
    [
        ("entity", "marketing", 6),
        ("connection", "consolidated", 3),
        ("event", "token", 7),
        ("event", "consolidated_payment", 2),
    ],
)
def test_groups(catalogue: Catalogue, kind: Kind, group: str, count: int) -> None:
    assert len(catalogue.groups(kind)[group]) == count


def test_unknown_type_names_the_closest(catalogue: Catalogue) -> None:
    with pytest.raises(UnknownTypeError, match="did you mean 'clone_created'") as info:
        catalogue.get("event", "clone_creatd")
    assert info.value.suggestion == "clone_created"
    with pytest.raises(UnknownTypeError, match="register it") as far:
        catalogue.get("entity", "spaceship")
    assert far.value.suggestion is None


@pytest.mark.parametrize(
    ("kind", "name", "data", "field"),
    [
        ("event", "payment_processed", {"status": "pending"}, "metadata.status"),
        ("event", "payment_processed", {}, "metadata.status"),
        ("event", "subscription_updated", {"action": "paused"}, "metadata.action"),
        ("event", "content_changed", {"action": "published"}, "metadata.action"),
        ("event", "content_interacted", {"interactionType": "hated"}, "metadata.interactionType"),
        ("event", "livestream_status_changed", {"status": "paused"}, "metadata.status"),
        ("event", "livestream_interaction", {"type": "waved"}, "metadata.type"),
        ("event", "notification_delivered", {"channel": "fax"}, "metadata.channel"),
        ("event", "referral_activity", {"action": "deleted"}, "metadata.action"),
        (
            "event",
            "tokens_purchased",
            {"amount": -1, "usdAmount": 1, "paymentId": "p"},
            "metadata.amount",
        ),
        ("event", "clone_interaction", {"message": "hi"}, "metadata.response"),
        ("event", "agent_failed", {"agentType": "sales_agent"}, "metadata.error"),
        ("event", "token_deployed", {"network": "base"}, "metadata.contractAddress"),
        ("connection", "transacted", {"transactionType": "gift"}, "metadata.transactionType"),
        ("connection", "referred", {"referralType": "viral"}, "metadata.referralType"),
        ("connection", "notified", {"channel": "pigeon"}, "metadata.channel"),
        ("connection", "holds_tokens", {"balance": -5}, "metadata.balance"),
    ],
)
def test_metadata_models_refuse_bad_shapes(
    catalogue: Catalogue, kind: Kind, name: str, data: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidInputError) as info:
        catalogue.validate(kind, name, data)
    assert info.value.field == field
    assert name in str(info.value)


def test_metadata_is_stored_camel_case_with_extra_keys_kept(catalogue: Catalogue) -> None:
    stored = catalogue.validate(
        "event",
        "payment_processed",
        {"status": "completed", "payment_id": "pay_1", "amount": 25, "note": "first sale"},
    )
    assert stored == {
        "status": "completed",
        "paymentId": "pay_1",
        "amount": 25.0,
        "note": "first sale",
    }


def test_types_without_a_model_take_any_json_object(catalogue: Catalogue) -> None:
    assert catalogue.validate("event", "user_joined", {"a": [1, {"b": None}]}) == {
        "a": [1, {"b": None}]
    }
    assert catalogue.validate("event", "user_joined", None) == {}
    with pytest.raises(InvalidInputError, match="plain JSON"):
        catalogue.validate("event", "user_joined", {"when": object()})
    with pytest.raises(InvalidInputError, match="JSON object"):
        catalogue.validate("event", "user_joined", ["not", "an", "object"])  # type: ignore[arg-type]


def test_developers_register_types_like_the_builtins(catalogue: Catalogue) -> None:
    class Mentioned(BaseModel):
        platform: str

    catalogue.register(
        EntityType("podcast_episode", "content", "one episode"),
        ConnectionType("sponsored_by", "business"),
        EventType("brand_mentioned", "growth", metadata=Mentioned),
    )
    assert catalogue.validate("event", "brand_mentioned", {"platform": "x"}) == {"platform": "x"}
    with pytest.raises(InvalidInputError, match="metadata.platform"):
        catalogue.validate("event", "brand_mentioned", {})
    assert catalogue.get("entity", "podcast_episode").group == "content"
    # Registering the same definition again is harmless; a different one is refused.
    catalogue.register(ConnectionType("sponsored_by", "business"))
    with pytest.raises(CatalogueError, match="already registered"):
        catalogue.register(ConnectionType("sponsored_by", "content"))
    with pytest.raises(CatalogueError, match="snake_case"):
        catalogue.register(EventType("BrandMentioned", "growth"))


def test_catalogues_are_independent() -> None:
    mine = Catalogue.default()
    mine.register(EventType("brand_mentioned", "growth"))
    with pytest.raises(UnknownTypeError):
        Catalogue.default().get("event", "brand_mentioned")
