"""Errors raised by `agents`, grouped by who has to act on them.

```
AgentsError
├── ConfigurationError          ONE cannot set up the model asked for (fix the settings)
├── ModelRequestBlockedError    a real model was called while requests are blocked (tests)
├── BudgetExceededError         a creator's daily budget would be exceeded; names when it resets
├── RecordingMissingError       playback found no recording for a call; shows the nearest one
├── OutputParseError            the model's reply did not fit the output schema (retryable)
├── InsufficientContentError    too little content to build a clone; says what to add
├── PersonalityExtractionError  the model never gave a usable personality for the clone
├── CloneNotFoundError          the creator has no clone yet: build it first
├── AccessDeniedError           the fan may not chat with the clone (e.g. holds no tokens)
├── MessageRejectedError        the fan's message is empty or too long
└── ProviderError               the model provider failed; `retryable` says if trying again helps
    ├── RateLimitedError        retryable; `retry_after` seconds when the provider says
    ├── ContextExceededError    not retryable: shorten the input
    ├── AuthFailedError         not retryable: fix the key
    ├── NetworkError            retryable: the provider could not be reached
    ├── ProviderTimeoutError    retryable: no answer in time
    └── UnknownProviderError    retryable for server errors (5xx), not for others
```

Provider exceptions are turned into these in one place (`agents._provider_errors`).
"""

from __future__ import annotations

from datetime import datetime

__all__ = [
    "AccessDeniedError",
    "AgentsError",
    "AuthFailedError",
    "BudgetExceededError",
    "CloneNotFoundError",
    "ConfigurationError",
    "ContextExceededError",
    "InsufficientContentError",
    "MessageRejectedError",
    "ModelRequestBlockedError",
    "NetworkError",
    "OutputParseError",
    "PersonalityExtractionError",
    "ProviderError",
    "ProviderTimeoutError",
    "RateLimitedError",
    "RecordingMissingError",
    "UnknownProviderError",
]


class AgentsError(Exception):
    """Root of every error `agents` raises."""


class ConfigurationError(AgentsError):
    """The model settings cannot work; the message names the setting to change."""


class ModelRequestBlockedError(AgentsError):
    """A real model was asked while `block_model_requests()` is on."""

    def __init__(self, model: str) -> None:
        super().__init__(
            f"a request to the real model {model!r} was blocked: tests use ScriptedChatModel "
            "or recordings; allow real requests explicitly with allow_model_requests()"
        )


class BudgetExceededError(AgentsError):
    """A call would take a creator past their daily budget; refused before the model."""

    def __init__(
        self, creator_id: str, what: str, used: float, cap: float, asked: float, resets_at: datetime
    ) -> None:
        self.creator_id = creator_id
        self.resets_at = resets_at
        super().__init__(
            f"creator {creator_id!r} has used {used:g} of a daily {what} budget of {cap:g}; "
            f"this call needs up to {asked:g} more. The budget resets at "
            f"{resets_at.isoformat()}; raise it or wait"
        )


class RecordingMissingError(AgentsError):
    """Playback mode found no recording for a call; nothing was sent to the model."""


class OutputParseError(AgentsError):
    """The reply did not match the requested output schema."""

    retryable = True


class InsufficientContentError(AgentsError):
    """A creator has too little content for a clone; `missing` maps kind to how many more."""

    def __init__(self, creator: str, have: dict[str, int], missing: dict[str, int]) -> None:
        self.have, self.missing = have, missing
        needs = " and ".join(f"{n} more {_plural(k, n)}" for k, n in missing.items())
        has = ", ".join(f"{n} {_plural(k, n)}" for k, n in have.items())
        super().__init__(
            f"{creator} has {has}: not enough to build a clone. Ingest {needs} "
            "(`one ingest PATH --creator ...`), or lower the requirement"
        )


class PersonalityExtractionError(AgentsError):
    """The model did not produce a usable personality from the creator's content."""


class CloneNotFoundError(AgentsError):
    """The creator has no clone: build one first (`one clone build`)."""


class AccessDeniedError(AgentsError):
    """The fan may not chat with this clone; the message says what would let them."""


class MessageRejectedError(AgentsError):
    """The fan's message cannot be answered as it is (empty, or too long)."""


def _plural(kind: str, n: int) -> str:
    words = {"video": ("video", "videos"), "audio": ("audio sample", "audio samples")}
    one, many = words.get(kind, (kind, kind + "s"))
    return one if n == 1 else many


class ProviderError(AgentsError):
    """The model provider failed the call.

    Attributes:
        retryable: whether trying the same call again may succeed.
    """

    retryable: bool = False

    def __init__(self, message: str, *, retryable: bool | None = None) -> None:
        if retryable is not None:
            self.retryable = retryable
        super().__init__(message)


class RateLimitedError(ProviderError):
    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class ContextExceededError(ProviderError):
    retryable = False


class AuthFailedError(ProviderError):
    retryable = False


class NetworkError(ProviderError):
    retryable = True


class ProviderTimeoutError(ProviderError):
    retryable = True


class UnknownProviderError(ProviderError):
    retryable = False
