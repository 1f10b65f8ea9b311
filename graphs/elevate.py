"""The ELEVATE journey of an audience member: Hook, Gift, Identify, Engage, Sell, Nurture,
Upsell, Understand, Share (reference §5).

Each step records `journey_step_completed` and the journey's progress on its `journey`
entity; milestones unlock achievements (`achievement_unlocked`). Identify is the payment
gate, as the sources put it: the run stops there (an `interrupt()`) until the payment is
confirmed (`confirm_payment`, which resumes it with the charge) or its deadline passes
(`expire_overdue`, which ends the journey there, as the sources' `completed: false`). The
run waits in its checkpoint, so it can be resumed by another process, days later.
"""

from __future__ import annotations

import itertools
import operator
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Annotated, Any

from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt
from typing_extensions import TypedDict

from agents.providers.errors import UnknownResourceError
from graphs._deps import Deps
from graphs._nodes import Call, Update, recorded
from graphs._runs import Run, Runs
from ontology import Store, Transaction, every
from ontology.errors import InvalidInputError

NAME = "elevate"
STEPS = ("hook", "gift", "identify", "engage", "sell", "nurture", "upsell", "understand", "share")
MILESTONES = {"identify": "committed", "sell": "first_purchase", "share": "ambassador"}
GATE_CENTS = 10_000  # the sources' $100 gate
GATE_WAIT = timedelta(days=7)  # and their wait of up to 7 days
_NAMESPACE = uuid.UUID("a7d2c3e4-9b1f-4c55-8e0d-2f6b7c8d9e10")


class ElevateState(TypedDict, total=False):
    creator_id: str
    fan_id: str
    journey_id: str
    completed: Annotated[list[str], operator.add]
    payment_id: str
    outcome: str  # "completed", or "expired" at the gate


def journey_id_of(creator_id: str, fan_id: str) -> str:
    """A fan's journey with a creator (one each); also the id of the run that carries it."""
    return str(uuid.uuid5(_NAMESPACE, f"{creator_id}\0{fan_id}"))


def start_journey(runs: Runs, creator_id: str, fan_id: str) -> Run:
    """Start (or, started already, return) the fan's journey; it runs to the payment gate."""
    store = runs.deps.store
    creator, fan = store.entities.get(creator_id), store.entities.get(fan_id)
    if fan.type != "audience_member":
        raise InvalidInputError("fan_id", f"{fan.name} is a {fan.type}, not an audience_member")
    journey = journey_id_of(creator.id, fan.id)
    with store.transaction() as tx:
        if tx.entities.find(journey) is None:
            tx.entities.create(
                "journey",
                f"ELEVATE: {fan.name} with {creator.name}"[:128],
                {"journeyType": "elevate", "fanId": fan.id, "state": "in_progress", "progress": 0},
                id=journey,
            )
            tx.connections.connect(creator.id, journey, "owns")
    return runs.start(
        NAME,
        {"creator_id": creator.id, "fan_id": fan.id, "journey_id": journey},
        run_id=journey,
    )


def confirm_payment(runs: Runs, run_id: str, payment_id: str) -> Run:
    """Resume a journey waiting at the gate with the charge that pays it; the gate checks
    the charge with the payments provider (a charge that does not pay it keeps it waiting,
    with the reason in the interrupt)."""
    return runs.resume(run_id, {"payment_id": payment_id})


def expire_overdue(runs: Runs) -> list[Run]:
    """End the journeys whose payment gate is past its deadline (run this on a schedule)."""
    now, ended, seen = runs.deps.now(), [], set()
    interrupted = every(runs.deps.store.events.timeline, type="run_interrupted", limit=500)
    for event in interrupted:
        if event.metadata.get("graph") != NAME or not event.run_id or event.run_id in seen:
            continue
        seen.add(event.run_id)
        run = runs.get(event.run_id)
        if run.status != "interrupted" or not run.interrupts:
            continue
        deadline = datetime.fromisoformat(str(run.interrupts[-1].value["deadline"]))
        if deadline <= now:
            ended.append(runs.resume(run.id, {"check_deadline": True}))
    return ended


def _step(name: str) -> Any:
    def step(state: Mapping[str, Any], call: Call) -> Update:
        with call.deps.store.transaction() as tx:
            _complete(tx, state, name, call)
        return {"completed": [name], **({"outcome": "completed"} if name == STEPS[-1] else {})}

    return step


def _identify(state: Mapping[str, Any], call: Call) -> Update:
    """The payment gate: wait for a charge that pays it, or for its deadline."""
    store, journey = call.deps.store, str(state["journey_id"])
    deadline = _deadline(store, journey, call.deps.now())
    reason = None
    while True:  # each answer that does not open the gate asks again (a new interrupt)
        gate = {
            "gate": "payment",
            "step": "identify",
            "journeyId": journey,
            "amountCents": GATE_CENTS,
            "currency": "usd",
            "deadline": deadline.isoformat(),
            **({"reason": reason} if reason else {}),
        }
        answer = interrupt(gate)
        payment_id = str((answer or {}).get("payment_id") or "")
        reason = _pays(call, state, payment_id) if payment_id else "no payment given"
        if reason is None:
            break  # paid: late or not, a payment the fan made is honoured
        if call.deps.now() >= deadline:
            with store.transaction() as tx:
                tx.entities.patch(journey, {"state": "expired"})
                tx.events.append(
                    "progress_updated",
                    str(state["fan_id"]),
                    journey,
                    {"journeyType": "elevate", "stepId": "identify", "progress": 2 / 9},
                    idempotency_key=f"elevate_expired:{journey}",
                )
            return {"outcome": "expired"}
    with store.transaction() as tx:
        tx.events.append(
            "payment_processed",
            str(state["fan_id"]),
            journey,
            {
                "status": "completed",
                "amount": GATE_CENTS / 100,
                "currency": "usd",
                "paymentId": payment_id,
                "method": "card",
            },
            idempotency_key=f"payment_processed:elevate:{journey}",
        )
        _complete(tx, state, "identify", call)
    return {"completed": ["identify"], "payment_id": payment_id}


def _pays(call: Call, state: Mapping[str, Any], payment_id: str) -> str | None:
    """Why the charge does not pay the gate, or None if it does."""
    try:
        charge = call.deps.providers.payments.get(payment_id)
    except UnknownResourceError:
        return f"no charge {payment_id!r}"
    if charge.customer != state["fan_id"]:
        return f"charge {payment_id} is not the fan's"
    if charge.status != "succeeded" or charge.currency != "usd":
        return f"charge {payment_id} is {charge.status} in {charge.currency}"
    if charge.amount_cents < GATE_CENTS:
        return f"charge {payment_id} is {charge.amount_cents} cents, not {GATE_CENTS}"
    return None


def _deadline(store: Store, journey: str, now: datetime) -> datetime:
    """The gate's deadline, fixed when the journey first reaches it."""
    with store.transaction() as tx:
        props = tx.entities.patch(journey).properties  # locks: one deadline, however many runs
        if "gateDeadline" not in props:
            deadline = now + GATE_WAIT
            tx.entities.patch(journey, {"gateDeadline": deadline.isoformat(), "state": "gated"})
            return deadline
    return datetime.fromisoformat(str(props["gateDeadline"]))


def _complete(tx: Transaction, state: Mapping[str, Any], step: str, call: Call) -> None:
    journey, fan = str(state["journey_id"]), str(state["fan_id"])
    number = STEPS.index(step) + 1
    key = f"journey_step_completed:{journey}:{step}"
    if tx.events.find(key) is not None:
        return  # this step's node ran again after a crash: it was recorded
    tx.events.append(
        "journey_step_completed",
        fan,
        journey,
        {"journeyType": "elevate", "stepId": step, "stepNumber": number, "stars": 3},
        run_id=call.run_id,
        idempotency_key=key,
    )
    done = number == len(STEPS)
    tx.entities.patch(
        journey,
        {
            "progress": round(number / len(STEPS), 4),
            "lastStep": step,
            "state": "completed" if done else "in_progress",
        },
    )
    if step in MILESTONES:
        tx.events.append(
            "achievement_unlocked",
            fan,
            journey,
            {"achievement": MILESTONES[step], "journeyType": "elevate", "stepId": step},
            run_id=call.run_id,
            idempotency_key=f"achievement_unlocked:{journey}:{step}",
        )


def _after_gate(state: ElevateState) -> str:
    return END if state.get("outcome") == "expired" else "engage"


def build() -> StateGraph[Any, Deps, Any, Any]:
    graph: StateGraph[Any, Deps, Any, Any] = StateGraph(ElevateState, context_schema=Deps)
    for name in STEPS:
        step = _identify if name == "identify" else _step(name)
        graph.add_node(name, recorded(NAME, name, step))
    graph.add_edge(START, STEPS[0])
    for before, after in itertools.pairwise(STEPS):
        if before == "identify":
            graph.add_conditional_edges("identify", _after_gate, [after, END])
        else:
            graph.add_edge(before, after)
    graph.add_edge(STEPS[-1], END)
    return graph
