"""Which chat model to use: arguments, then environment (`ONE_*`, `OPENAI_*`), then `.env`.

- `ONE_BASE_URL` (+ `ONE_MODEL`): any OpenAI-compatible server (vLLM, Ollama, llama.cpp).
- `OPENAI_API_KEY` (or `ONE_API_KEY`): OpenAI itself, `ONE_MODEL` defaulting to gpt-4o-mini.
- neither: the local SmolLM2-135M-Instruct, served by ONE on loopback. It is tiny: good
  for trying ONE with no key, not for good answers.
"""

from __future__ import annotations

import os
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

Backend = Literal["openai", "compatible", "local"]
OPENAI_DEFAULT_MODEL = "gpt-4o-mini"
LOCAL_MODEL = "SmolLM2-135M-Instruct"


class ModelSettings(BaseSettings):
    """Settings of the chat model. Every field can be set as `ONE_<FIELD>`."""

    model_config = SettingsConfigDict(env_prefix="ONE_", env_file=".env", extra="ignore")

    model: str | None = None
    base_url: str | None = None
    api_key: SecretStr | None = None
    temperature: float = Field(default=0.7, ge=0, le=2)
    max_tokens: int = Field(default=512, gt=0)
    timeout: float | None = Field(default=None, gt=0, description="seconds for one attempt")
    max_attempts: int = Field(default=4, ge=1)
    total_timeout: float | None = Field(default=None, gt=0, description="seconds for all")

    @property
    def backend(self) -> Backend:
        if self.base_url:
            return "compatible"
        return "openai" if self.key() else "local"

    def key(self) -> str | None:
        if self.api_key is not None:
            return self.api_key.get_secret_value()
        return os.environ.get("OPENAI_API_KEY") or None

    def attempt_timeout(self) -> float:
        """Seconds for one attempt: 60, or 600 for the local model, which shares the
        machine's cores and keeps generating an abandoned request (a retry would queue
        behind it)."""
        return self.timeout or (600.0 if self.backend == "local" else 60.0)

    def all_timeout(self) -> float:
        """Seconds for all attempts: 180, or 1200 for the local model."""
        return self.total_timeout or (1200.0 if self.backend == "local" else 180.0)

    def model_name(self) -> str:
        if self.model:
            return self.model
        return {"openai": OPENAI_DEFAULT_MODEL, "local": LOCAL_MODEL}.get(self.backend, "default")
