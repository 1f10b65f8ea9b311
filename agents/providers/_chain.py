"""A token chain (Base-like): deploy, mint, burn, transfer; the protocol and a simulator."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Protocol

from agents.providers._simulation import Simulation
from agents.providers.errors import InsufficientBalanceError, UnknownResourceError


class Chain(Protocol):
    """Token contracts and balances, every write idempotent by key; writes return a tx hash."""

    def deploy(self, symbol: str, owner: str, *, idempotency_key: str) -> str: ...

    def mint(self, contract: str, to: str, amount: int, *, idempotency_key: str) -> str: ...

    def burn(self, contract: str, holder: str, amount: int, *, idempotency_key: str) -> str: ...

    def transfer(
        self, contract: str, sender: str, to: str, amount: int, *, idempotency_key: str
    ) -> str: ...

    def balance_of(self, contract: str, holder: str) -> int: ...


class SimulatedChain:
    """A local stand-in for a token chain, with balances, a transaction log and faults.

    With a `path`, the chain's state is kept in that SQLite file, shared across processes.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.simulation = Simulation("chain", path)

    @property
    def balances(self) -> dict[str, dict[str, int]]:
        """Each contract's balances by holder."""
        return self.simulation.all("ledger")

    @property
    def transactions(self) -> list[tuple[str, str, str, str, int]]:
        """Every transaction, oldest first: hash, operation, from, to, amount."""
        return [(tx, *rest) for tx, rest in self.simulation.all("tx").items()]

    def deploy(self, symbol: str, owner: str, *, idempotency_key: str) -> str:
        def act() -> str:
            address = (
                "0x" + hashlib.sha256(self.simulation.new_id(symbol).encode()).hexdigest()[:40]
            )
            self.simulation.put("ledger", address, {})
            return address

        return str(
            self.simulation.call("deploy", idempotency_key, {"symbol": symbol, "owner": owner}, act)
        )

    def mint(self, contract: str, to: str, amount: int, *, idempotency_key: str) -> str:
        return self._move("mint", contract, None, to, amount, idempotency_key)

    def burn(self, contract: str, holder: str, amount: int, *, idempotency_key: str) -> str:
        return self._move("burn", contract, holder, None, amount, idempotency_key)

    def transfer(
        self, contract: str, sender: str, to: str, amount: int, *, idempotency_key: str
    ) -> str:
        return self._move("transfer", contract, sender, to, amount, idempotency_key)

    def balance_of(self, contract: str, holder: str) -> int:
        return self._ledger(contract).get(holder, 0)

    def _move(
        self, op: str, contract: str, source: str | None, target: str | None, amount: int, key: str
    ) -> str:
        if amount <= 0:
            raise ValueError("amount must be positive")
        request = {"contract": contract, "from": source, "to": target, "amount": amount}

        def act() -> str:
            ledger = self._ledger(contract)
            if source is not None and ledger.get(source, 0) < amount:
                raise InsufficientBalanceError(
                    f"{source!r} holds {ledger.get(source, 0)}, not {amount}"
                )
            if source is not None:
                ledger[source] -= amount
            if target is not None:
                ledger[target] = ledger.get(target, 0) + amount
            tx = "0x" + hashlib.sha256(self.simulation.new_id("tx").encode()).hexdigest()
            self.simulation.put("ledger", contract, ledger)
            self.simulation.put("tx", tx, [op, source or "", target or "", amount])
            return tx

        return str(self.simulation.call(op, key, request, act))

    def _ledger(self, contract: str) -> dict[str, int]:
        ledger = self.simulation.get("ledger", contract)
        if ledger is None:
            raise UnknownResourceError(f"no token contract {contract}")
        return dict(ledger)
