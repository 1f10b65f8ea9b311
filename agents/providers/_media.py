"""Voice (ElevenLabs-like) and appearance (D-ID/HeyGen-like) cloning: protocols and simulators."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from agents.providers._simulation import Simulation


class Voice(Protocol):
    """Clone a voice from recorded samples; returns the provider's voice id."""

    name: str

    def clone_voice(self, label: str, samples: Sequence[str], *, idempotency_key: str) -> str: ...


class Appearance(Protocol):
    """Build a talking avatar from images; returns the provider's appearance id."""

    name: str

    def clone_appearance(
        self, label: str, images: Sequence[str], *, idempotency_key: str
    ) -> str: ...


class SimulatedVoice:
    """A local stand-in for a voice-cloning API: needs samples, keeps the voices it made."""

    name = "simulated-voice"

    def __init__(self, path: str | Path | None = None, *, min_samples: int = 1) -> None:
        self.simulation = Simulation("voice", path)
        self.min_samples = min_samples

    @property
    def voices(self) -> dict[str, tuple[str, ...]]:
        """The voices made, with their samples."""
        return {id: tuple(s) for id, s in self.simulation.all("voice").items()}

    def clone_voice(self, label: str, samples: Sequence[str], *, idempotency_key: str) -> str:
        if len(samples) < self.min_samples:
            raise ValueError(
                f"voice cloning needs at least {self.min_samples} samples, got {len(samples)}"
            )

        def act() -> str:
            voice_id = self.simulation.new_id("voice")
            self.simulation.put("voice", voice_id, list(samples))
            return voice_id

        request = {"label": label, "samples": list(samples)}
        return str(self.simulation.call("clone_voice", idempotency_key, request, act))


class SimulatedAppearance:
    """A local stand-in for an avatar API: needs images, keeps the avatars it made."""

    name = "simulated-appearance"

    def __init__(self, path: str | Path | None = None) -> None:
        self.simulation = Simulation("appearance", path)

    @property
    def avatars(self) -> dict[str, tuple[str, ...]]:
        """The avatars made, with their images."""
        return {id: tuple(i) for id, i in self.simulation.all("avatar").items()}

    def clone_appearance(self, label: str, images: Sequence[str], *, idempotency_key: str) -> str:
        if not images:
            raise ValueError("appearance cloning needs at least one image")

        def act() -> str:
            avatar = self.simulation.new_id("avatar")
            self.simulation.put("avatar", avatar, list(images))
            return avatar

        request = {"label": label, "images": list(images)}
        return str(self.simulation.call("clone_appearance", idempotency_key, request, act))
