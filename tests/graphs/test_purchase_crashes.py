"""The purchase saga killed (SIGKILL) at each step, under provider faults, then recovered.

Every process is a shop process (`tests.graphs.shop.main`) forked from this one: it opens
the shop's files itself, shares nothing else with the test, and starts in milliseconds
instead of the seconds a fresh interpreter takes to import ONE. One test starts
`python -m tests.graphs.shop DIR recover` as a new interpreter.

After each case: never more than one charge per purchase; charged if and only if minted
(net of refunds and burns); no purchase left unfinished; ONE's events agree with the
simulators' ledgers.
"""

from __future__ import annotations

import multiprocessing
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from graphs import purchase
from ontology import Event
from tests.graphs import shop
from tests.graphs.shop import Shop, open_shop

pytestmark = pytest.mark.slow

KILLED = -signal.SIGKILL
FAILED = 1  # the process ended on an exception (the run failed)
ROOT = Path(__file__).parents[2]


def at_once(directory: Path, *commands: Sequence[str]) -> list[int]:
    """Run shop processes (forked), all at once, to their end; their exit codes."""
    context = multiprocessing.get_context("fork")
    processes = [
        context.Process(target=shop.main, args=([str(directory), *argv],)) for argv in commands
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)
    codes = [process.exitcode for process in processes]
    for process, argv in zip(processes, commands, strict=True):
        if process.exitcode is None:
            process.kill()
            pytest.fail(f"shop {' '.join(argv)} did not end")
    return [int(code or 0) for code in codes]


def run(directory: Path, *argv: str) -> int:
    """Run a shop process (forked) to its end; its exit code."""
    [code] = at_once(directory, argv)
    return code


def recover(directory: Path) -> list[int]:
    """Recover in fresh processes until one ends cleanly (a recovery can be killed too)."""
    codes: list[int] = []
    while not codes or codes[-1] != 0:
        assert len(codes) < 5, f"recovery never ended cleanly: {codes}"
        codes.append(run(directory, "recover"))
    return codes


Fault = tuple[str, str, str, int]  # service, operation, fault, times


def arm(directory: Path, *faults: Fault) -> None:
    """Set the shop up (the first time) and arm the faults for the next process to meet."""
    with open_shop(directory) as opened:
        for service, operation, fault, times in faults:
            simulator = opened.payments if service == "payments" else opened.chain
            simulator.simulation.fail(operation, fault, times)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Case:
    name: str
    status: str  # how the purchase ends
    faults: tuple[Fault, ...] = ()
    die_after: str | None = None  # an event of ONE's after which the buyer kills itself
    declined: bool = False  # bought with a card the simulator declines
    buyer: int = KILLED  # the buyer's exit code
    recoveries: tuple[int, ...] = (0,)  # the exit codes of the recovering processes


def unavailable(service: str, operation: str, times: int = 4) -> Fault:
    return (service, operation, "unavailable", times)


def crash(service: str, operation: str, when: str) -> Fault:
    return (service, operation, f"crash_{when}", 1)


MINT_FAILS = unavailable("chain", "mint")  # every try of the mint node: compensate
MINT_LOST = (("chain", "mint", "lost", 1), unavailable("chain", "mint", 3))

CASES = [
    # Killed as a provider is about to act, or has just acted (the simulators' crash faults).
    Case("charge-before", "completed", (crash("payments", "charge", "before"),)),
    Case("charge-after", "completed", (crash("payments", "charge", "after"),)),
    Case(
        "charge-lost-then-killed-retrying",
        "completed",
        (("payments", "charge", "lost", 1), crash("payments", "charge", "before")),
    ),
    Case(
        "charge-after-then-unavailable",
        "refunded",
        (crash("payments", "charge", "after"), unavailable("payments", "charge")),
    ),
    Case("mint-before", "completed", (crash("chain", "mint", "before"),)),
    Case("mint-after", "completed", (crash("chain", "mint", "after"),)),
    Case("mint-after-then-unavailable", "refunded", (crash("chain", "mint", "after"), MINT_FAILS)),
    Case(
        "mint-lost-killed-retrying-then-unavailable",
        "refunded",
        (("chain", "mint", "lost", 1), crash("chain", "mint", "before"), MINT_FAILS),
    ),
    Case("remint-after", "refunded", (MINT_FAILS, crash("chain", "mint", "after"))),
    Case("refund-before", "refunded", (MINT_FAILS, crash("payments", "refund", "before"))),
    Case("refund-after", "refunded", (MINT_FAILS, crash("payments", "refund", "after"))),
    Case(
        "refund-fails-once-then-killed",
        "refunded",
        (MINT_FAILS, unavailable("payments", "refund", 1), crash("payments", "refund", "before")),
    ),
    Case(
        "refund-fails-for-good-then-recovered",
        "refunded",
        (MINT_FAILS, unavailable("payments", "refund")),
        buyer=FAILED,
    ),
    Case("burn-before", "refunded", (*MINT_LOST, crash("chain", "burn", "before"))),
    Case("burn-after", "refunded", (*MINT_LOST, crash("chain", "burn", "after"))),
    Case(
        "recovery-killed-too",
        "refunded",
        (crash("chain", "mint", "after"), MINT_FAILS, crash("chain", "burn", "after")),
        recoveries=(KILLED, 0),
    ),
    Case("declined-before", "declined", (crash("payments", "charge", "before"),), declined=True),
    # Killed inside ONE, right after it appended an event (before the step's checkpoint;
    # inside the step's transaction for the events a step writes in one).
    Case("after-accepted", "completed", die_after="run_accepted"),
    Case("charge-started", "completed", die_after="node_started:charge"),
    Case("charge-completed", "completed", die_after="node_completed:charge"),
    Case("mint-started", "completed", die_after="node_started:mint"),
    Case("mint-completed", "completed", die_after="node_completed:mint"),
    Case("recording", "completed", die_after="tokens_purchased"),
    Case("record-completed", "completed", die_after="node_completed:record"),
    Case("run-completed", "completed", die_after="run_completed", recoveries=(0,)),
    Case("declined-completed", "declined", die_after="node_completed:declined", declined=True),
    # The mint failed for good; killed before its failure was checkpointed: the mint runs
    # again on recovery, finds the chain back, and the purchase completes.
    Case("mint-failed", "completed", (MINT_FAILS,), die_after="node_failed:mint"),
    Case("burning", "refunded", (MINT_FAILS,), die_after="tokens_burned"),
    Case(
        "refunding",
        "refunded",
        (("payments", "charge", "lost", 1), unavailable("payments", "charge", 3)),
        die_after="payment_processed",
    ),
    Case("compensated", "refunded", (MINT_FAILS,), die_after="node_completed:compensate"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_killed_purchase_is_finished_by_recovery(case: Case, tmp_path: Path) -> None:
    arm(tmp_path, *case.faults)
    argv = ["buy", "p1", "--amount", "100"]
    argv += ["--fan", "dee"] if case.declined else []
    argv += ["--die-after", case.die_after] if case.die_after else []
    assert run(tmp_path, *argv) == case.buyer
    assert tuple(recover(tmp_path)) == case.recoveries
    with open_shop(tmp_path) as opened:
        assert_consistent(opened)
        assert opened.runs.get(purchase.run_id_of("p1")).values["status"] == case.status


def test_one_purchase_id_from_four_processes_charges_and_mints_once(tmp_path: Path) -> None:
    arm(tmp_path)
    buyers = [("buy", "same", "5", "--amount", "100")] * 4  # 20 submissions of one purchase
    assert at_once(tmp_path, *buyers) == [0, 0, 0, 0]
    with open_shop(tmp_path) as opened:
        assert len(opened.payments.charges) == 1
        assert [op for _, op, *_ in opened.chain.transactions] == ["mint"]
    finished = subprocess.run(
        [sys.executable, "-m", "tests.graphs.shop", str(tmp_path), "recover"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert finished.returncode == 0, finished.stderr
    with open_shop(tmp_path) as opened:
        assert_consistent(opened)
        run_ = opened.runs.get(purchase.run_id_of("same"))
        assert run_.status == "completed" and run_.values["status"] == "completed"
        assert opened.chain.balance_of(opened.contract, opened.fan_id) == 100


def test_purchases_made_at_once_by_several_processes_add_up(tmp_path: Path) -> None:
    arm(tmp_path)
    buyers = [("buy", f"p{n}", "2", "--amount", str(2**n)) for n in range(8)]
    assert at_once(tmp_path, *buyers) == [0] * 8
    with open_shop(tmp_path) as opened:
        assert_consistent(opened)
        assert len(opened.payments.charges) == 8
        assert purchase.balance(opened.store, opened.fan_id, opened.token_id) == 2**8 - 1


def test_one_purchase_id_from_four_processes_whose_driver_is_killed(tmp_path: Path) -> None:
    arm(tmp_path, crash("chain", "mint", "after"))  # whoever drives the run dies minting
    buyers = [("buy", "same", "5", "--amount", "100")] * 4
    assert sorted(at_once(tmp_path, *buyers)) == [KILLED, 0, 0, 0]
    assert recover(tmp_path) == [0]
    with open_shop(tmp_path) as opened:
        assert_consistent(opened)
        assert len(opened.payments.charges) == 1
        assert [op for _, op, *_ in opened.chain.transactions] == ["mint"]
        assert opened.runs.get(purchase.run_id_of("same")).values["status"] == "completed"


def test_purchases_left_unfinished_in_one_shop_are_all_recovered(tmp_path: Path) -> None:
    """Several purchases killed at different points, recovered together by one process.

    Each buyer uses up the faults armed for it, so the recovery meets none."""
    plan: list[tuple[tuple[Fault, ...], str | None]] = [
        ((crash("chain", "mint", "after"),), None),
        ((), "node_completed:charge"),
        ((MINT_FAILS,), "tokens_burned"),
        ((), None),
        (MINT_LOST, "node_completed:compensate"),
        ((crash("payments", "charge", "after"),), None),
    ]
    codes = []
    for number, (faults, die_after) in enumerate(plan):
        arm(tmp_path, *faults)
        argv = ["buy", f"p{number}", "--amount", str(2**number), "--cents", str(100 + number)]
        codes.append(run(tmp_path, *argv, *(["--die-after", die_after] if die_after else [])))
    assert codes == [KILLED, KILLED, KILLED, 0, KILLED, KILLED]
    assert recover(tmp_path) == [0]
    with open_shop(tmp_path) as opened:
        assert_consistent(opened)
        ended = [opened.runs.get(purchase.run_id_of(f"p{n}")).values["status"] for n in range(6)]
        assert ended == ["completed", "completed", "refunded", "completed", "refunded", "completed"]
        assert opened.chain.balance_of(opened.contract, opened.fan_id) == 1 + 2 + 8 + 32


def assert_consistent(opened: Shop) -> None:
    """The invariants, for every purchase in the shop (each buys a different amount)."""
    store, payments, chain = opened.store, opened.payments, opened.chain
    accepted = store.events.timeline(type="run_accepted", limit=500).items
    held = 0
    for run_accepted in accepted:
        pid = str(run_accepted.metadata["input"]["purchase_id"])
        amount = int(run_accepted.metadata["input"]["amount"])
        run_ = opened.runs.get(str(run_accepted.run_id))
        status = run_.values.get("status")
        assert run_.status == "completed", f"{pid}: the run is {run_.status}"
        assert status in ("completed", "declined", "refunded"), f"{pid}: {status}"
        charges = [c for c in payments.charges.values() if c.reference == pid]
        assert len(charges) <= 1, f"{pid} charged {len(charges)} times"
        charged = any(c.status == "succeeded" for c in charges)
        moves = [(op, n) for _, op, _, _, n in chain.transactions if n == amount]
        mints, burns = moves.count(("mint", amount)), moves.count(("burn", amount))
        assert mints <= 1 and burns <= mints, f"{pid}: {moves}"
        minted = mints - burns == 1
        assert charged == minted, f"{pid}: charged {charges}, chain {moves}"
        events = store.events.read_run(str(run_accepted.run_id))
        kinds = [e.type for e in events]
        paid = [e.metadata["status"] for e in events if e.type == "payment_processed"]
        expected = {"completed": "completed", "refunded": "refunded", "declined": "failed"}
        assert paid == [expected[str(status)]], f"{pid}: payment_processed {paid}"
        assert kinds.count("tokens_purchased") == (1 if charged else 0)
        assert (status == "completed") == charged
        assert kinds.count("tokens_burned") == burns
        assert (status == "refunded") == any(c.status == "refunded" for c in charges)
        assert (status == "declined") == (charges == [])
        assert_nodes_ended(pid, events)
        held += amount if status == "completed" else 0
    for fan in (opened.fan_id, opened.declined_fan_id):
        on_chain = chain.balance_of(opened.contract, fan)
        assert purchase.balance(store, fan, opened.token_id) == on_chain
    assert chain.balance_of(opened.contract, opened.fan_id) == held


def assert_nodes_ended(pid: str, events: list[Event]) -> None:
    """Every node that started ended (completed, or failed and then ran again), once."""
    started = [e.metadata["taskId"] for e in events if e.type == "node_started"]
    completed = [e.metadata["taskId"] for e in events if e.type == "node_completed"]
    failed = {e.metadata["taskId"] for e in events if e.type == "node_failed"}
    assert len(started) == len(set(started)) and len(completed) == len(set(completed))
    assert set(started) == set(completed) | failed, f"{pid}: a node never ended"
