"""Daily budgets per creator, in tokens or dollars: reserved before a call, settled after.

A call reserves its worst case (its prompt and its full output allowance) before it is
sent; if that does not fit, it is refused without reaching the model. After the call the
reservation is replaced by what the call really used. So concurrent calls can never
together spend more than the budget.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from agents.errors import BudgetExceededError

Unit = Literal["tokens", "usd"]


@dataclass(frozen=True)
class Reservation:
    creator_id: str
    day: date
    amount: float


class Budget:
    """A cap per creator per day (UTC), kept in this process.

    Args:
        cap: the default daily cap; `caps` sets one per creator.
        unit: "tokens" or "usd".
    """

    def __init__(
        self,
        cap: float,
        *,
        unit: Unit = "tokens",
        caps: dict[str, float] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.cap, self.unit, self.caps = cap, unit, dict(caps or {})
        self._clock = clock
        self._spent: dict[tuple[str, date], float] = {}
        self._lock = threading.Lock()

    def reserve(self, creator_id: str, amount: float) -> Reservation:
        """Hold `amount` for a call, or raise `BudgetExceededError` if it does not fit."""
        now = self._clock()
        key = (creator_id, now.date())
        cap = self.caps.get(creator_id, self.cap)
        with self._lock:
            used = self._spent.get(key, 0.0)
            if used + amount > cap:
                resets = datetime.combine(now.date() + timedelta(days=1), time(), UTC)
                raise BudgetExceededError(creator_id, self.unit, used, cap, amount, resets)
            self._spent[key] = used + amount
        return Reservation(creator_id, now.date(), amount)

    def settle(self, reservation: Reservation, actual: float) -> None:
        """Replace a reservation by what the call used (0 if it failed before the model)."""
        key = (reservation.creator_id, reservation.day)
        with self._lock:
            self._spent[key] = self._spent.get(key, 0.0) - reservation.amount + actual

    def spent(self, creator_id: str, day: date | None = None) -> float:
        with self._lock:
            return self._spent.get((creator_id, day or self._clock().date()), 0.0)
