"""Chat turns in one process go through a gate, one at a time.

Python runs one thread at a time (the GIL). Two turns answered together in one process
end no sooner than one after the other would; they share the interpreter, so the first
to come ends as late as the second. Through the gate, each turn's work runs alone, and
the turns waiting go in about the order they came (a lock, not strictly fair). A turn
steps out while it waits: for the turn before it in its conversation (`Runs`), which
may itself be waiting to come back in; and for its model's answer once that has taken
`STEP_OUT_AFTER` (a real model takes seconds). An answer quicker than that keeps the
turn's place: on two cores a waiting turn takes the gate the moment it is left, and
the turn that left waits for the whole of that one (measured: no better than no gate).

Only what cannot stall behind a slow caller goes through: a turn that is not streamed
(`clone.chat`). A streamed turn hands each piece to its reader as it comes, and holding
the gate then would let one slow reader stop every turn in the process.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextvars import ContextVar

STEP_OUT_AFTER = 0.005  # seconds of waiting before a turn leaves the gate to others

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
    def outside(self, after: float = 0.0) -> Iterator[None]:
        """Step out of the gate for the block, if this turn holds it (else nothing),
        once the block has lasted `after` seconds: others go through while it waits; it
        comes back in before the block ends."""
        if _held.get() is not self:
            yield
            return
        token = _held.set(None)
        stepping = _SteppingOut(self._lock)
        timer = threading.Timer(after, stepping.leave) if after > 0 else None
        if timer is None:
            stepping.leave()
        else:
            timer.daemon = True
            timer.start()
        try:
            yield
        finally:
            if timer is not None:
                timer.cancel()
            if stepping.end():
                self._lock.acquire()
            _held.reset(token)


class _SteppingOut:
    """A turn's leaving of the gate, which a timer may do while the turn waits."""

    def __init__(self, gate: threading.Lock) -> None:
        self._gate, self._mutex = gate, threading.Lock()
        self._left, self._ended = False, False

    def leave(self) -> None:
        with self._mutex:
            if not self._ended and not self._left:
                self._left = True
                self._gate.release()

    def end(self) -> bool:
        """No leaving from now on; whether the turn left (and must come back in)."""
        with self._mutex:
            self._ended = True
            return self._left
