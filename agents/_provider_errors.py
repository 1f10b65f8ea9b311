"""The one place where provider exceptions become ONE's typed `ProviderError`s."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import openai

from agents.errors import (
    AuthFailedError,
    ContextExceededError,
    NetworkError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitedError,
    UnknownProviderError,
)

_CONTEXT_MARKERS = (
    "context_length_exceeded",
    "maximum context length",
    "context window",
    "exceed context",
    "too many tokens",
)


def provider_error(error: BaseException, model: str) -> ProviderError | None:
    """The typed error for an exception from a provider call; None if it is not one."""
    where = f"model {model!r}"
    if isinstance(error, openai.APITimeoutError):
        return ProviderTimeoutError(f"{where} did not answer in time; it will be retried")
    if isinstance(error, openai.APIConnectionError):
        return NetworkError(
            f"{where} could not be reached ({error}); check the base URL and that the server is up"
        )
    if isinstance(error, openai.RateLimitError):
        return RateLimitedError(
            f"{where} is rate limited; slow down or raise the limit",
            retry_after=_retry_after(error.response),
        )
    if isinstance(error, openai.AuthenticationError | openai.PermissionDeniedError):
        return AuthFailedError(
            f"{where} refused the API key ({error.status_code}); set a "
            "valid OPENAI_API_KEY (or ONE_API_KEY)"
        )
    if isinstance(error, openai.APIStatusError):
        return _status_error(error, where)
    return None


@contextmanager
def typed_provider_errors(model: str) -> Iterator[None]:
    """Inside, a provider exception is raised as ONE's typed `ProviderError` instead."""
    try:
        yield
    except Exception as e:
        mapped = provider_error(e, model)
        if mapped is None:
            raise
        raise mapped from e


def _status_error(error: openai.APIStatusError, where: str) -> ProviderError:
    text = str(error).lower()
    if error.status_code in (400, 413) and any(m in text for m in _CONTEXT_MARKERS):
        return ContextExceededError(
            f"{where}: the input is longer than the model's context; "
            "shorten the conversation or the retrieved content"
        )
    server_side = error.status_code >= 500
    return UnknownProviderError(
        f"{where} failed with HTTP {error.status_code}: {error.message}"
        + ("; it will be retried" if server_side else ""),
        retryable=server_side,
    )


def _retry_after(response: Any) -> float | None:
    if response is None:
        return None
    for header, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = response.headers.get(header)
        if value:
            try:
                return float(value) / scale
            except ValueError:  # an HTTP date: not worth parsing, back off as usual
                continue
    return None
