"""Retrying a provider call: what can be retried, with the same idempotency key each time."""

from __future__ import annotations

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from agents.providers.errors import ProviderCallError


def retried(attempts: int, *, wait_s: float = 0.05, max_wait_s: float = 2.0) -> Retrying:
    """Up to `attempts` calls, backing off exponentially from `wait_s`, while the provider's
    error says trying again can help (`retryable`: unavailable, or a response lost).

    Example: `retried(3)(voice.clone_voice, label, samples, idempotency_key=key)`.
    """
    return Retrying(
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=wait_s, max=max_wait_s),
        retry=retry_if_exception(lambda e: isinstance(e, ProviderCallError) and e.retryable),
        reraise=True,
    )
