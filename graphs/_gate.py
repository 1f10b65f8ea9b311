"""Chat turns in one process go through a gate, one at a time.

Python runs one thread at a time (the GIL). Two turns answered together in one process
end no sooner than one after the other would; they share the interpreter, so the first
to come ends as late as the second. Through the gate, each turn's work runs alone, and
the turns waiting go in about the order they came (a lock, not strictly fair). A turn
steps out while it waits: for its model's answer (seconds, for a real model), and for
the turn before it in its conversation (`Runs`), which may itself be waiting to come
back in.

Only what cannot stall behind a slow caller goes through: a turn that is not streamed
(`clone.chat`). A streamed turn hands each piece to its reader as it comes, and holding
the gate then would let one slow reader stop every turn in the process.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextvars import ContextVar

_held: ContextVar[Gate | None] = ContextVar("one_gate_held", default=None)


class Gate:
    """A process's chat turns, one at a time (see the module)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def through(self) -> Iterator[None]:
        """Hold the gate for the block, once the turn before has left it."""
        with self._lock:
            token = _held.set(self)
            try:
                yield
            finally:
                _held.reset(token)

    @contextlib.contextmanager
    def outside(self) -> Iterator[None]:
        """Step out of the gate for the block, if this turn holds it (else nothing):
        others go through while it waits; it comes back in before the block ends."""
        if _held.get() is not self:
            yield
            return
        token = _held.set(None)
        self._lock.release()
        try:
            yield
        finally:
            self._lock.acquire()
            _held.reset(token)
