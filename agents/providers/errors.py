"""Errors of the providers (payments, chain, voice, appearance), real or simulated.

```
ProviderCallError
├── ProviderUnavailableError     retryable: the service did not act; try again
├── ResponseLostError            retryable with the same idempotency key: it may have acted
├── IdempotencyKeyReusedError    a key sent again with a different request: refused
├── PaymentDeclinedError         the card or account was declined: not retryable
├── InsufficientBalanceError     not enough tokens to burn or transfer
└── UnknownResourceError         no such charge, contract or voice
```
"""

from __future__ import annotations

__all__ = [
    "IdempotencyKeyReusedError",
    "InsufficientBalanceError",
    "PaymentDeclinedError",
    "ProviderCallError",
    "ProviderUnavailableError",
    "ResponseLostError",
    "UnknownResourceError",
]


class ProviderCallError(Exception):
    """Root of the provider errors. `retryable` says whether trying again can help."""

    retryable = False


class ProviderUnavailableError(ProviderCallError):
    retryable = True


class ResponseLostError(ProviderCallError):
    retryable = True


class IdempotencyKeyReusedError(ProviderCallError):
    def __init__(self, service: str, key: str) -> None:
        super().__init__(
            f"{service}: idempotency key {key!r} was used for a different request; use a "
            "new key for a new request, or resend the original one exactly"
        )


class PaymentDeclinedError(ProviderCallError):
    pass


class InsufficientBalanceError(ProviderCallError):
    pass


class UnknownResourceError(ProviderCallError, LookupError):
    pass
