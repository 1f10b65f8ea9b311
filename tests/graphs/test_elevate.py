"""The ELEVATE journey: nine steps, a payment gate at Identify that waits (across process
restarts) for a payment or its deadline, progress and achievements in the ontology."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from graphs import elevate
from tests.graphs.journey import CREATOR_ID, FAN_ID, Journey, open_journey

ROOT = Path(__file__).parents[2]


def steps_done(journey: Journey) -> list[str]:
    return [
        str(e.metadata["stepId"])
        for e in journey.store.events.timeline(type="journey_step_completed", limit=20).items
    ]


def pay(journey: Journey, cents: int = elevate.GATE_CENTS, customer: str = FAN_ID) -> str:
    charge = journey.providers.payments.charge(
        customer, cents, "usd", idempotency_key=f"gate:{customer}:{cents}"
    )
    return charge.id


def test_the_journey_waits_at_identify_until_the_payment_then_finishes(tmp_path: Path) -> None:
    with open_journey(tmp_path) as journey:
        run = elevate.start_journey(journey.runs, CREATOR_ID, FAN_ID)
        assert run.status == "interrupted" and steps_done(journey) == ["hook", "gift"]
        (gate,) = run.interrupts
        assert gate.value["gate"] == "payment" and gate.value["amountCents"] == 10_000
        entity = journey.store.entities.get(run.id)
        assert entity.properties["state"] == "gated" and entity.properties["progress"] == 0.2222
        assert elevate.start_journey(journey.runs, CREATOR_ID, FAN_ID).id == run.id  # once

        done = elevate.confirm_payment(journey.runs, run.id, pay(journey))
        assert done.status == "completed" and done.values["outcome"] == "completed"
        assert steps_done(journey) == list(elevate.STEPS)
        achievements = journey.store.events.timeline(type="achievement_unlocked").items
        assert [e.metadata["achievement"] for e in achievements] == [
            "committed",
            "first_purchase",
            "ambassador",
        ]
        assert journey.store.entities.get(run.id).properties["state"] == "completed"
        (paid,) = journey.store.events.timeline(type="payment_processed").items
        assert paid.metadata["status"] == "completed" and paid.target_id == run.id
        node_events = [e for e in journey.store.events.read_run(run.id) if e.type == "node_failed"]
        assert node_events == []  # waiting at the gate is not a failure


def test_a_charge_that_does_not_pay_the_gate_keeps_it_waiting_with_the_reason(
    tmp_path: Path,
) -> None:
    with open_journey(tmp_path) as journey:
        run = elevate.start_journey(journey.runs, CREATOR_ID, FAN_ID)
        for charge, reason in [
            ("ch_nope", "no charge 'ch_nope'"),
            (pay(journey, cents=5_000), "is 5000 cents, not 10000"),
            (pay(journey, customer="someone-else"), "is not the fan's"),
        ]:
            run = elevate.confirm_payment(journey.runs, run.id, charge)
            assert run.status == "interrupted" and reason in run.interrupts[-1].value["reason"]
        assert steps_done(journey) == ["hook", "gift"]
        assert elevate.confirm_payment(journey.runs, run.id, pay(journey)).status == "completed"
        assert steps_done(journey) == list(elevate.STEPS)


def test_an_unpaid_gate_expires_at_its_deadline_and_the_journey_stops_there(
    tmp_path: Path,
) -> None:
    clock = [datetime(2026, 11, 22, 9, 0, tzinfo=UTC)]
    with open_journey(tmp_path, now=lambda: clock[0]) as journey:
        run = elevate.start_journey(journey.runs, CREATOR_ID, FAN_ID)
        deadline = datetime.fromisoformat(run.interrupts[0].value["deadline"])
        assert deadline == clock[0] + timedelta(days=7)
        clock[0] += timedelta(days=6)
        assert elevate.expire_overdue(journey.runs) == []  # not yet
        clock[0] += timedelta(days=1)
        (ended,) = elevate.expire_overdue(journey.runs)
        assert ended.status == "completed" and ended.values["outcome"] == "expired"
        assert journey.store.entities.get(run.id).properties["state"] == "expired"
        assert steps_done(journey) == ["hook", "gift"]
        assert elevate.expire_overdue(journey.runs) == []


def test_the_gate_is_resumed_by_another_process_after_the_first_exits(tmp_path: Path) -> None:
    started = subprocess.run(
        [sys.executable, "-m", "tests.graphs.journey", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert started.stdout.strip() == "interrupted"
    with open_journey(tmp_path) as journey:  # this process: nothing in memory from that one
        (run,) = journey.runs.list()
        assert run.status == "interrupted" and steps_done(journey) == ["hook", "gift"]
        done = elevate.confirm_payment(journey.runs, run.id, pay(journey))
        assert done.status == "completed" and steps_done(journey) == list(elevate.STEPS)
        starts = [e for e in journey.store.events.read_run(run.id) if e.type == "node_started"]
        assert [e.metadata["node"] for e in starts] == list(elevate.STEPS)  # each once


def test_a_journey_is_for_an_audience_member(tmp_path: Path) -> None:
    with (
        open_journey(tmp_path) as journey,
        pytest.raises(Exception, match="not an audience_member"),
    ):
        elevate.start_journey(journey.runs, CREATOR_ID, CREATOR_ID)
