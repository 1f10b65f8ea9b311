"""Providers the agents use: payments, a token chain, voice and appearance cloning.

Each is a small protocol with a deterministic local simulator that behaves like the real
service where it matters (state, ids, idempotency keys, refunds, injectable failures), so
every flow runs offline. Real clients implement the same protocols and are chosen by
setting (`Providers.from_settings()`; `ONE_PAYMENTS_PROVIDER=package.module:Factory`).
"""

from agents.providers import errors
from agents.providers._chain import Chain, SimulatedChain
from agents.providers._config import Providers, ProviderSettings
from agents.providers._media import Appearance, SimulatedAppearance, SimulatedVoice, Voice
from agents.providers._payments import Charge, Payments, SimulatedPayments
from agents.providers._retry import retried
from agents.providers._simulation import Simulation

__all__ = [
    "Appearance",
    "Chain",
    "Charge",
    "Payments",
    "ProviderSettings",
    "Providers",
    "SimulatedAppearance",
    "SimulatedChain",
    "SimulatedPayments",
    "SimulatedVoice",
    "Simulation",
    "Voice",
    "errors",
    "retried",
]
