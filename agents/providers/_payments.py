"""Payments (Stripe-like, fiat only): the protocol, and a local simulator that behaves like it."""

from __future__ import annotations

from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict

from agents.providers._simulation import Simulation
from agents.providers.errors import PaymentDeclinedError, UnknownResourceError

DECLINED = "declined"  # a customer id the simulator always declines


class Charge(BaseModel):
    """A charge as the provider reports it, refunds included."""

    model_config = ConfigDict(frozen=True)

    id: str
    customer: str
    amount_cents: int
    currency: str
    status: Literal["succeeded", "refunded", "partially_refunded"] = "succeeded"
    refunded_cents: int = 0


class Payments(Protocol):
    """Charge a customer and refund a charge, idempotently."""

    def charge(
        self, customer: str, amount_cents: int, currency: str, *, idempotency_key: str
    ) -> Charge: ...

    def refund(
        self, charge_id: str, *, idempotency_key: str, amount_cents: int | None = None
    ) -> Charge: ...

    def get(self, charge_id: str) -> Charge: ...


class SimulatedPayments:
    """A local stand-in for a Stripe-like API: charges, refunds, declines, faults.

    `simulation.fail("charge", "lost")` makes the next charge go through but its response
    get lost; retrying with the same idempotency key returns it without charging again.
    """

    def __init__(self) -> None:
        self.simulation = Simulation("payments")
        self.charges: dict[str, Charge] = {}

    def charge(
        self, customer: str, amount_cents: int, currency: str, *, idempotency_key: str
    ) -> Charge:
        if amount_cents <= 0:
            raise ValueError("amount_cents must be positive")
        request = {"customer": customer, "amount": amount_cents, "currency": currency}

        def act() -> Charge:
            if customer == DECLINED:
                raise PaymentDeclinedError(f"the card of {customer!r} was declined")
            charge = Charge(
                id=self.simulation.new_id("ch"),
                customer=customer,
                amount_cents=amount_cents,
                currency=currency.lower(),
            )
            self.charges[charge.id] = charge
            return charge

        return self.simulation.call("charge", idempotency_key, request, act)

    def refund(
        self, charge_id: str, *, idempotency_key: str, amount_cents: int | None = None
    ) -> Charge:
        request = {"charge": charge_id, "amount": amount_cents}

        def act() -> Charge:
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
            self.charges[charge_id] = updated
            return updated

        return self.simulation.call("refund", idempotency_key, request, act)

    def get(self, charge_id: str) -> Charge:
        try:
            return self.charges[charge_id]
        except KeyError:
            raise UnknownResourceError(f"no charge {charge_id!r}") from None
