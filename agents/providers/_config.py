"""Which provider serves each service: the simulators by default, a real client by setting.

Each service is set as `ONE_<SERVICE>_PROVIDER` (or in `.env`): `simulated`, or the import
path of a factory (a class or function taking no arguments) that returns a client
implementing the protocol, e.g. `ONE_PAYMENTS_PROVIDER=mycompany.billing:StripePayments`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ImportString, TypeAdapter, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from agents.errors import ConfigurationError
from agents.providers._chain import Chain, SimulatedChain
from agents.providers._media import Appearance, SimulatedAppearance, SimulatedVoice, Voice
from agents.providers._payments import Payments, SimulatedPayments

SIMULATED = "simulated"


class ProviderSettings(BaseSettings):
    """The provider of each service: "simulated" or "package.module:factory"."""

    model_config = SettingsConfigDict(env_prefix="ONE_", env_file=".env", extra="ignore")

    payments_provider: str = SIMULATED
    chain_provider: str = SIMULATED
    voice_provider: str = SIMULATED
    appearance_provider: str = SIMULATED
    simulation_path: Path | None = None  # default: simulators.db under ONE_DATA_DIR


@dataclass(frozen=True)
class Providers:
    """One client per service, as the settings name them."""

    payments: Payments
    chain: Chain
    voice: Voice
    appearance: Appearance

    @classmethod
    def simulated(cls, path: str | Path | None = None) -> Providers:
        """Local simulators for every service: fresh, in memory, or kept in the SQLite file
        `path` that every process opening it shares."""
        return cls(
            SimulatedPayments(path),
            SimulatedChain(path),
            SimulatedVoice(path),
            SimulatedAppearance(path),
        )

    @classmethod
    def from_settings(cls, settings: ProviderSettings | None = None) -> Providers:
        """The clients the settings name; simulators where they say "simulated".

        Raises:
            ConfigurationError: a path that does not import, or a factory that fails.
        """
        s = settings or ProviderSettings()
        path = s.simulation_path or Path(os.environ.get("ONE_DATA_DIR", ".one")) / "simulators.db"
        return cls(
            payments=_make("payments", s.payments_provider, lambda: SimulatedPayments(path)),
            chain=_make("chain", s.chain_provider, lambda: SimulatedChain(path)),
            voice=_make("voice", s.voice_provider, lambda: SimulatedVoice(path)),
            appearance=_make(
                "appearance", s.appearance_provider, lambda: SimulatedAppearance(path)
            ),
        )


_IMPORT: TypeAdapter[Callable[[], Any]] = TypeAdapter(ImportString[Callable[[], Any]])


def _make(service: str, provider: str, simulator: Callable[[], Any]) -> Any:
    if provider == SIMULATED:
        return simulator()
    try:
        factory = _IMPORT.validate_python(provider)
    except ValidationError as e:
        reason = e.errors()[0]["msg"]
        raise ConfigurationError(
            f"ONE_{service.upper()}_PROVIDER={provider!r} does not import ({reason}); set it "
            f"to 'simulated' or to 'package.module:Factory'"
        ) from None
    try:
        return factory()
    except Exception as e:
        raise ConfigurationError(
            f"ONE_{service.upper()}_PROVIDER={provider!r} failed to start: {e}"
        ) from e
