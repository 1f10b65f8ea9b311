"""The events of a run whose durability is `"exit"`, held until the run ends.

Such a run writes no checkpoint until it ends, so its node events wait for the ending
too, and are written in the same transaction as it (`Runs`): the log then never shows
the steps of an attempt that a crash undid and that will run again.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from langchain_core.runnables import RunnableConfig

from ontology import NewEvent

KEY = "one_journal"  # where a run's journal is, in its config's "configurable"


class Journal:
    """Events appended in memory (from parallel nodes too), to be written at the end."""

    def __init__(self) -> None:
        self._events: list[NewEvent] = []
        self._lock = threading.Lock()

    def append(
        self,
        type: str,
        actor_id: str,
        target_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        *,
        run_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> None:
        """Keep an event, with the time it happened (not the time it is written)."""
        event = NewEvent(
            type=type,
            actor_id=actor_id,
            target_id=target_id,
            metadata=dict(metadata or {}),
            run_id=run_id,
            idempotency_key=idempotency_key,
            timestamp=datetime.now(UTC),
        )
        with self._lock:
            self._events.append(event)

    def events(self) -> list[NewEvent]:
        with self._lock:
            return list(self._events)


def journal_of(config: RunnableConfig | None) -> Journal | None:
    """The journal of the run `config` belongs to, if it keeps one."""
    found = ((config or {}).get("configurable") or {}).get(KEY)
    return found if isinstance(found, Journal) else None
