"""Build the `ChatOpenAI` the settings name: OpenAI, a compatible server, or the local one."""

from __future__ import annotations

from langchain_openai import ChatOpenAI
from pydantic import SecretStr

from agents._local import shared_server
from agents._settings import ModelSettings


def chat_model(settings: ModelSettings) -> ChatOpenAI:
    """A `ChatOpenAI` for the settings. Retries are ONE's (tenacity), so the client's are off."""
    base_url: str | None
    key: str | None
    if settings.backend == "local":
        base_url, key = shared_server().base_url, "local"
    elif settings.backend == "compatible":
        base_url, key = settings.base_url, settings.key() or "none"
    else:
        base_url, key = None, settings.key()
    return ChatOpenAI(
        model=settings.model_name(),
        base_url=base_url,
        api_key=SecretStr(key or ""),
        temperature=settings.temperature,
        timeout=settings.timeout,
        max_retries=0,
    )
