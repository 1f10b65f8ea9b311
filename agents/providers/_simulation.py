"""What every provider simulator shares: idempotency keys, and failures the tests inject.

Like the real services: the same idempotency key with the same request returns the stored
response and repeats nothing; the same key with a different request is refused. A "lost"
failure performs the operation and then loses the response, as a network timeout after
the provider acted does; retrying with the same key then returns the stored response.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from typing import Any, Literal, TypeVar

from agents.providers.errors import (
    IdempotencyKeyReusedError,
    ProviderCallError,
    ProviderUnavailableError,
    ResponseLostError,
)

T = TypeVar("T")
Fault = Literal["unavailable", "lost"]


class Simulation:
    """Idempotency and injected faults for one simulated provider (thread-safe)."""

    def __init__(self, service: str) -> None:
        self.service = service
        self._responses: dict[str, tuple[str, Any]] = {}
        self._faults: dict[str, list[Fault]] = {}
        self._counters: dict[str, int] = {}
        self._lock = threading.RLock()

    def fail(self, operation: str, fault: Fault = "unavailable", times: int = 1) -> None:
        """Make the next `times` calls of `operation` fail with `fault`."""
        with self._lock:
            self._faults.setdefault(operation, []).extend([fault] * times)

    def new_id(self, prefix: str) -> str:
        """A deterministic id: the same sequence of calls gives the same ids."""
        with self._lock:
            self._counters[prefix] = self._counters.get(prefix, 0) + 1
            return f"{prefix}_sim_{self._counters[prefix]:06d}"

    def call(self, operation: str, key: str, request: dict[str, Any], act: Callable[[], T]) -> T:
        """Run `act` once per idempotency key, applying any injected fault."""
        fingerprint = hashlib.sha256(
            json.dumps([operation, request], sort_keys=True, default=str).encode()
        ).hexdigest()
        with self._lock:
            if key in self._responses:
                stored_fingerprint, response = self._responses[key]
                if stored_fingerprint != fingerprint:
                    raise IdempotencyKeyReusedError(self.service, key)
                if isinstance(response, ProviderCallError):
                    raise response  # a refusal is stored under its key like a success
                return response  # type: ignore[no-any-return]
            fault = self._faults.get(operation, []).pop(0) if self._faults.get(operation) else None
            if fault == "unavailable":
                raise ProviderUnavailableError(f"{self.service} is unavailable (simulated); retry")
            try:
                response = act()
            except ProviderCallError as refusal:
                self._responses[key] = (fingerprint, refusal)
                raise
            self._responses[key] = (fingerprint, response)
        if fault == "lost":
            raise ResponseLostError(
                f"{self.service} acted on {operation} but the response was lost (simulated); "
                "retry with the same idempotency key to get it"
            )
        return response
