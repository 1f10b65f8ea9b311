"""Providers the agents use: payments, a token chain, voice and appearance cloning.

Each is a small protocol with a deterministic local simulator that behaves like the real
service where it matters (state, ids, idempotency keys, refunds, injectable failures), so
every flow runs offline. Real clients implement the same protocols.
"""

from agents.providers import errors
from agents.providers._chain import Chain, SimulatedChain
from agents.providers._media import Appearance, SimulatedAppearance, SimulatedVoice, Voice
from agents.providers._payments import Charge, Payments, SimulatedPayments
from agents.providers._simulation import Simulation

__all__ = [
    "Appearance",
    "Chain",
    "Charge",
    "Payments",
    "SimulatedAppearance",
    "SimulatedChain",
    "SimulatedPayments",
    "SimulatedVoice",
    "Simulation",
    "Voice",
    "errors",
]
