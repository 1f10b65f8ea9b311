"""Payments (Stripe-like, fiat only): the protocol, and a local simulator that behaves like it."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict

from agents.providers._simulation import Simulation
from agents.providers.errors import PaymentDeclinedError, UnknownResourceError

DECLINED = "declined"  # a customer id the simulator always declines (see also `decline`)


class Charge(BaseModel):
    """A charge as the provider reports it, refunds included."""

    model_config = ConfigDict(frozen=True)

    id: str
    customer: str
    amount_cents: int
    currency: str
    status: Literal["succeeded", "refunded", "partially_refunded"] = "succeeded"
    refunded_cents: int = 0
    reference: str | None = None  # the caller's own id for what was bought (Stripe: metadata)


class Payments(Protocol):
    """Charge a customer and refund a charge, idempotently; find a charge by reference."""

    def charge(
        self,
        customer: str,
        amount_cents: int,
        currency: str,
        *,
        idempotency_key: str,
        reference: str | None = None,
    ) -> Charge: ...

    def refund(
        self, charge_id: str, *, idempotency_key: str, amount_cents: int | None = None
    ) -> Charge: ...

    def get(self, charge_id: str) -> Charge: ...

    def find(self, reference: str) -> Charge | None:
        """The charge made with `reference`, if any: what to refund when a charge's
        response never arrived."""
        ...


class SimulatedPayments:
    """A local stand-in for a Stripe-like API: charges, refunds, declines, faults.

    `simulation.fail("charge", "lost")` makes the next charge go through but its response
    get lost; retrying with the same idempotency key returns it without charging again.
    With a `path`, the charges are kept in that SQLite file, shared across processes.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.simulation = Simulation("payments", path)

    def decline(self, customer: str) -> None:
        """Decline every charge of `customer` from now on, as a card that stopped working."""
        self.simulation.put("declined", customer, True)

    @property
    def charges(self) -> dict[str, Charge]:
        """Every charge made, oldest first, as it stands now."""
        return {id: Charge.model_validate(c) for id, c in self.simulation.all("charge").items()}

    def charge(
        self,
        customer: str,
        amount_cents: int,
        currency: str,
        *,
        idempotency_key: str,
        reference: str | None = None,
    ) -> Charge:
        if amount_cents <= 0:
            raise ValueError("amount_cents must be positive")
        request = {
            "customer": customer,
            "amount": amount_cents,
            "currency": currency,
            "reference": reference,
        }

        def act() -> dict[str, object]:
            if customer == DECLINED or self.simulation.get("declined", customer):
                raise PaymentDeclinedError(f"the card of {customer!r} was declined")
            charge = Charge(
                id=self.simulation.new_id("ch"),
                customer=customer,
                amount_cents=amount_cents,
                currency=currency.lower(),
                reference=reference,
            )
            self.simulation.put("charge", charge.id, charge.model_dump())
            if reference is not None:
                self.simulation.put("reference", reference, charge.id)
            return charge.model_dump()

        return Charge.model_validate(self.simulation.call("charge", idempotency_key, request, act))

    def refund(
        self, charge_id: str, *, idempotency_key: str, amount_cents: int | None = None
    ) -> Charge:
        request = {"charge": charge_id, "amount": amount_cents}

        def act() -> dict[str, object]:
            charge = self.get(charge_id)
            amount = (
                charge.amount_cents - charge.refunded_cents
                if amount_cents is None
                else amount_cents
            )
            refunded = charge.refunded_cents + amount
            if amount <= 0 or refunded > charge.amount_cents:
                raise ValueError(f"cannot refund {amount} of charge {charge_id}")
            status = "refunded" if refunded == charge.amount_cents else "partially_refunded"
            updated = charge.model_copy(update={"refunded_cents": refunded, "status": status})
            self.simulation.put("charge", charge_id, updated.model_dump())
            return updated.model_dump()

        return Charge.model_validate(self.simulation.call("refund", idempotency_key, request, act))

    def get(self, charge_id: str) -> Charge:
        found = self.simulation.get("charge", charge_id)
        if found is None:
            raise UnknownResourceError(f"no charge {charge_id!r}")
        return Charge.model_validate(found)

    def find(self, reference: str) -> Charge | None:
        charge_id = self.simulation.get("reference", reference)
        return None if charge_id is None else self.get(charge_id)
