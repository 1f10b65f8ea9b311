"""An agent is one declarative spec; a registry holds them, ONE's ten and a developer's own.

Registering an agent for a creator records it in the ontology: the agent entity, `owns`
from the creator, `manages` its business function (an entity, made with the first agent
that manages it), `reports_to` the strategy agent, and `agent_created`. Registering again
changes nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from pydantic import BaseModel

from agents import _plugins
from agents.errors import ConfigurationError
from agents.inputs import Input, Profile
from agents.outputs import Report, Writer
from ontology import Entity, EntityType, Store, Transaction
from ontology.errors import ConstraintViolationError, UnknownTypeError

_IDS = uuid.UUID("3c9e1f0a-5b7d-4e2a-8c61-9f4b2d7e0a13")


@dataclass(frozen=True)
class AgentSpec:
    """Everything that makes an agent, as data.

    Attributes:
        name: its entity type, e.g. "strategy_agent" (registered in the catalogue if new).
        role: one line on what it does.
        system_prompt: how the model is told to act.
        capabilities: what it can do (stored on its entity).
        output: the pydantic model its answer must fit (structured output).
        temperature, max_tokens: its model settings.
        schedule: a default cron expression, or None for on demand.
        reports_to: the agent it reports to (None for the top one).
        inputs: what it reads before it works (`agents.inputs`), in prompt order.
        writes: how its output is recorded (`agents.outputs`); by default one `report`.
        function: the business function it `manages` (default: its role).
    """

    name: str
    role: str
    system_prompt: str
    output: type[BaseModel]
    capabilities: tuple[str, ...] = ()
    temperature: float = 0.4
    max_tokens: int = 600
    schedule: str | None = None
    reports_to: str | None = "strategy_agent"
    inputs: tuple[Input, ...] = (Profile(),)
    writes: Writer = field(default=Report("report"))
    function: str = ""
    group: str = field(default="business_agents")


class AgentRegistry:
    """The agents ONE knows. `AgentRegistry.default()` holds the ten built-ins."""

    def __init__(self) -> None:
        self._specs: dict[str, AgentSpec] = {}

    @classmethod
    def default(cls, *, plugins: bool = True) -> AgentRegistry:
        """ONE's ten agents, and those installed packages declare as entry points in the
        group `one.agents` (each naming an `AgentSpec`), unless `plugins` is False.

        Raises:
            ConfigurationError: an entry point that does not load to an `AgentSpec`.
        """
        from agents._builtin_agents import BUILTIN_AGENTS

        registry = cls()
        for spec in BUILTIN_AGENTS:
            registry.register(spec)
        for entry, spec in _plugins.plugins("one.agents", "agent") if plugins else ():
            if not isinstance(spec, AgentSpec):
                raise ConfigurationError(
                    f"the agent plugin {entry.name} = {entry.value} is a "
                    f"{type(spec).__name__}, not an AgentSpec"
                )
            registry.register(spec)
        return registry

    def register(self, spec: AgentSpec) -> None:
        """Add an agent; the same spec again is harmless, another with its name is refused."""
        known = self._specs.get(spec.name)
        if known is not None and known != spec:
            raise ConfigurationError(f"an agent named {spec.name!r} is already registered")
        self._specs[spec.name] = spec

    def get(self, name: str) -> AgentSpec:
        try:
            return self._specs[name]
        except KeyError:
            known = ", ".join(sorted(self._specs))
            raise ConfigurationError(f"no agent {name!r}; known agents: {known}") from None

    def names(self) -> list[str]:
        return list(self._specs)

    def register_for(self, store: Store, creator_id: str, name: str) -> Entity:
        """Record agent `name` as working for a creator (idempotent); returns its entity."""
        spec = self.get(name)
        try:
            store.catalogue.get("entity", spec.name)  # ONE's ten are catalogued already
        except UnknownTypeError:
            store.catalogue.register(EntityType(spec.name, spec.group, spec.role))
        agent_id = agent_entity_id(creator_id, spec.name)
        existing = store.entities.find(agent_id, include_deleted=True)
        if existing is not None:
            return store.entities.restore(agent_id) if existing.deleted_at else existing
        try:
            with store.transaction() as tx:
                agent = tx.entities.create(spec.name, spec.role, _properties(spec), id=agent_id)
                tx.connections.connect(creator_id, agent.id, "owns")
                tx.connections.connect(agent.id, _function(tx, creator_id, spec).id, "manages")
                self._link_reports(tx, creator_id, spec)
                tx.events.append(
                    "agent_created",
                    creator_id,
                    agent.id,
                    {"agentType": spec.name},
                    idempotency_key=f"agent_created:{agent.id}",
                )
        except ConstraintViolationError:  # registered at the same moment by another caller
            return store.entities.get(agent_id)
        return agent

    def link_reports(self, store: Store, creator_id: str) -> int:
        """Add every `reports_to` between the creator's registered agents that is missing
        (agents registered at the same moment, in separate transactions, cannot see each
        other). Returns how many were added."""
        added = 0
        with store.transaction() as tx:
            for spec in self._specs.values():
                if not spec.reports_to or spec.reports_to == spec.name:
                    continue
                me = agent_entity_id(creator_id, spec.name)
                boss = agent_entity_id(creator_id, spec.reports_to)
                if tx.entities.find(me) is None or tx.entities.find(boss) is None:
                    continue
                if not tx.connections.query(me, boss, "reports_to").items:
                    tx.connections.connect(me, boss, "reports_to")
                    added += 1
        return added

    def _link_reports(self, tx: Transaction, creator_id: str, spec: AgentSpec) -> None:
        """`reports_to` edges to its boss and from its reports, whichever came first."""
        me = agent_entity_id(creator_id, spec.name)
        if spec.reports_to and spec.reports_to != spec.name:
            boss = agent_entity_id(creator_id, spec.reports_to)
            if tx.entities.find(boss) is not None:
                tx.connections.connect(me, boss, "reports_to")
        for other in self._specs.values():
            report = agent_entity_id(creator_id, other.name)
            if (
                other.reports_to == spec.name
                and other.name != spec.name
                and tx.entities.find(report) is not None
            ):
                tx.connections.connect(report, me, "reports_to")


def agent_entity_id(creator_id: str, agent: str) -> str:
    """The stable id of a creator's agent."""
    return str(uuid.uuid5(_IDS, f"{creator_id}\0{agent}"))


def _function(tx: Transaction, creator_id: str, spec: AgentSpec) -> Entity:
    """The business function the agent manages (reference §4: agent manages function)."""
    name = spec.function or spec.role
    function_id = str(uuid.uuid5(_IDS, f"{creator_id}\0function\0{name}"))
    found = tx.entities.find(function_id)
    if found is not None:
        return found
    function = tx.entities.create(
        "business_function", name, {"capabilities": list(spec.capabilities)}, id=function_id
    )
    tx.connections.connect(creator_id, function.id, "owns")
    return function


def _properties(spec: AgentSpec) -> dict[str, object]:
    return {
        "agentType": spec.name,
        "systemPrompt": spec.system_prompt,
        "capabilities": list(spec.capabilities),
        "temperature": spec.temperature,
        "schedule": spec.schedule,
        "totalExecutions": 0,
    }
