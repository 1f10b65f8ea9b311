"""What a graph's nodes work with, passed through LangGraph's runtime context (never globals)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from agents import AgentRegistry, Model
from agents.providers import Providers
from graphs._gate import Gate
from knowledge import Knowledge
from ontology import Store


@dataclass(frozen=True)
class Deps:
    """The ontology store, the creator's knowledge, the model, the providers, the agents,
    the clock, and the gate its chat turns go through (`graphs._gate`).

    LangGraph does not save the context in checkpoints: every start and resume passes it
    again (`Runs` does).
    """

    store: Store
    model: Model
    knowledge: Knowledge | None = None
    providers: Providers = field(default_factory=Providers.simulated)
    registry: AgentRegistry = field(default_factory=AgentRegistry.default)
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))  # a clock tests set
    gate: Gate = field(default_factory=Gate)
