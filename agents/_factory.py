"""Build the `ChatOpenAI` the settings name: OpenAI, a compatible server, or the local one."""

from __future__ import annotations

from collections.abc import Callable

from langchain_openai import ChatOpenAI
from pydantic import SecretStr

from agents._local import shared_server
from agents._settings import ModelSettings


def chat_model(settings: ModelSettings) -> tuple[ChatOpenAI, Callable[[], None] | None]:
    """A `ChatOpenAI` for the settings, and what to do before each call (the local model's
    server starts at the first call, not before). Retries are ONE's (tenacity), so the
    client's are off."""
    base_url: str | None
    key: str | None
    before_call: Callable[[], None] | None = None
    if settings.backend == "local":
        server = shared_server(start=False)
        base_url, key, before_call = server.base_url, "local", _start_local
    elif settings.backend == "compatible":
        base_url, key = settings.base_url, settings.key() or "none"
    else:
        base_url, key = None, settings.key()
    return ChatOpenAI(
        model=settings.model_name(),
        base_url=base_url,
        api_key=SecretStr(key or ""),
        temperature=settings.temperature,
        timeout=settings.attempt_timeout(),
        max_retries=0,
    ), before_call


def _start_local() -> None:
    shared_server()  # started once; later calls only check it runs
