"""The gate a process's chat turns go through: one at a time, stepping out to wait."""

from __future__ import annotations

import functools
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from graphs._gate import Gate


class Overlap:
    """How many callers of `during` were inside it at once, at most (`most`)."""

    def __init__(self) -> None:
        self.inside = self.most = 0
        self._lock = threading.Lock()

    def during(self, seconds: float) -> None:
        """Be inside for `seconds`: long enough for the others to be waiting."""
        with self._lock:
            self.inside += 1
            self.most = max(self.most, self.inside)
        time.sleep(seconds)
        with self._lock:
            self.inside -= 1


def test_one_holder_at_a_time_the_next_goes_through_once_the_first_leaves() -> None:
    gate, overlap = Gate(), Overlap()

    def turn() -> None:
        with gate.through():
            overlap.during(0.05)

    with ThreadPoolExecutor(4) as pool:
        for done in [pool.submit(turn) for _ in range(4)]:
            done.result(timeout=10)
    assert overlap.most == 1


def test_a_holder_that_steps_out_lets_another_through_and_comes_back_in() -> None:
    gate, passed = Gate(), threading.Event()
    other = functools.partial(_through, gate, passed)

    with gate.through():
        with ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(other)
            assert not passed.wait(0.2)  # the gate is held
            with gate.outside():
                assert passed.wait(5)  # it went through while this one was out
            waiting.result(timeout=5)
        # back in: a third must wait again
        third = threading.Thread(target=other)
        passed.clear()
        third.start()
        assert not passed.wait(0.2)
    third.join(5)
    assert passed.is_set()


def test_stepping_out_without_holding_the_gate_does_nothing() -> None:
    """A streamed turn is not gated: its model's wait must not open the gate that another
    turn holds."""
    gate, held = Gate(), threading.Event()
    release = threading.Event()

    def holder() -> None:
        with gate.through():
            held.set()
            release.wait(5)

    thread = threading.Thread(target=holder)
    thread.start()
    assert held.wait(5)
    with gate.outside():  # not this thread's: nothing released
        pass
    with pytest.raises(TimeoutError):
        _through_within(gate, 0.2)
    release.set()
    thread.join(5)
    _through_within(gate, 5)


def test_a_gate_steps_out_only_of_itself() -> None:
    first, second = Gate(), Gate()
    # holding `first`, not `second`: stepping out of `second` leaves `first` held
    with first.through(), second.outside(), pytest.raises(TimeoutError):
        _through_within(first, 0.2)


def _through(gate: Gate, passed: threading.Event) -> None:
    with gate.through():
        passed.set()


def _through_within(gate: Gate, seconds: float) -> None:
    """Go through `gate` on another thread, or raise TimeoutError if it stays shut."""
    went = threading.Event()
    threading.Thread(target=_through, args=(gate, went), daemon=True).start()
    if not went.wait(seconds):
        raise TimeoutError("the gate stayed shut")


def test_a_short_wait_keeps_the_place_a_long_one_lets_others_through() -> None:
    """`outside(after)`: a block quicker than `after` never leaves the gate (an instant
    model's turn keeps its place); a longer one leaves it once `after` has passed."""
    gate, passed = Gate(), threading.Event()
    other = functools.partial(_through, gate, passed)

    with gate.through():
        waiting = threading.Thread(target=other)
        waiting.start()
        with gate.outside(after=5.0):
            assert not passed.wait(0.3)  # still held: the block has not lasted 5 s
        with gate.outside(after=0.05):
            assert passed.wait(5)  # left after 0.05 s: the other went through
        waiting.join(5)
        passed.clear()
        third = threading.Thread(target=other)
        third.start()
        assert not passed.wait(0.2)  # back in
    third.join(5)
    assert passed.is_set()
