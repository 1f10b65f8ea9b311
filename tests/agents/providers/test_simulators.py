"""The provider simulators behave like the services where it matters."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from agents.providers import (
    Chain,
    Payments,
    SimulatedAppearance,
    SimulatedChain,
    SimulatedPayments,
    SimulatedVoice,
)
from agents.providers.errors import (
    IdempotencyKeyReusedError,
    InsufficientBalanceError,
    PaymentDeclinedError,
    ProviderUnavailableError,
    ResponseLostError,
    UnknownResourceError,
)


@pytest.fixture
def payments() -> SimulatedPayments:
    return SimulatedPayments()


def test_a_charge_with_the_same_key_is_made_once(payments: SimulatedPayments) -> None:
    api: Payments = payments
    first = api.charge("cus_1", 2500, "USD", idempotency_key="buy-1")
    again = api.charge("cus_1", 2500, "USD", idempotency_key="buy-1")
    assert first == again and first.currency == "usd" and first.status == "succeeded"
    assert list(payments.charges) == [first.id] and api.get(first.id) == first
    with pytest.raises(IdempotencyKeyReusedError, match="'buy-1' was used for a different"):
        api.charge("cus_1", 9900, "USD", idempotency_key="buy-1")
    assert len(payments.charges) == 1


def test_refunds_full_and_partial(payments: SimulatedPayments) -> None:
    charge = payments.charge("cus_1", 1000, "usd", idempotency_key="c")
    part = payments.refund(charge.id, amount_cents=400, idempotency_key="r1")
    assert (part.status, part.refunded_cents) == ("partially_refunded", 400)
    assert payments.refund(charge.id, amount_cents=400, idempotency_key="r1") == part  # once
    rest = payments.refund(charge.id, idempotency_key="r2")
    assert (rest.status, rest.refunded_cents) == ("refunded", 1000)
    with pytest.raises(ValueError, match="cannot refund"):
        payments.refund(charge.id, amount_cents=1, idempotency_key="r3")
    with pytest.raises(UnknownResourceError):
        payments.refund("ch_nope", idempotency_key="r4")


def test_a_decline_is_stored_under_its_key(payments: SimulatedPayments) -> None:
    for _ in range(2):
        with pytest.raises(PaymentDeclinedError):
            payments.charge("declined", 500, "usd", idempotency_key="d")
    assert payments.charges == {}


def test_an_unavailable_provider_did_nothing(payments: SimulatedPayments) -> None:
    payments.simulation.fail("charge", "unavailable")
    with pytest.raises(ProviderUnavailableError) as info:
        payments.charge("cus_1", 500, "usd", idempotency_key="k")
    assert info.value.retryable and payments.charges == {}
    assert payments.charge("cus_1", 500, "usd", idempotency_key="k").amount_cents == 500


def test_a_lost_response_charged_once_and_the_retry_returns_it(
    payments: SimulatedPayments,
) -> None:
    payments.simulation.fail("charge", "lost")
    with pytest.raises(ResponseLostError, match="same idempotency key"):
        payments.charge("cus_1", 500, "usd", idempotency_key="k")
    assert len(payments.charges) == 1  # it acted
    retried = payments.charge("cus_1", 500, "usd", idempotency_key="k")
    assert list(payments.charges) == [retried.id]


def test_many_threads_with_one_key_make_one_charge(payments: SimulatedPayments) -> None:
    with ThreadPoolExecutor(8) as pool:
        ids = set(
            pool.map(
                lambda _: payments.charge("cus_1", 100, "usd", idempotency_key="same").id, range(40)
            )
        )
    assert len(ids) == 1 and len(payments.charges) == 1


def test_chain_mints_burns_and_transfers_idempotently() -> None:
    sim = SimulatedChain()
    chain: Chain = sim
    token = chain.deploy("MAYA", "maya", idempotency_key="deploy")
    assert chain.deploy("MAYA", "maya", idempotency_key="deploy") == token
    tx = chain.mint(token, "sam", 100, idempotency_key="mint-1")
    assert chain.mint(token, "sam", 100, idempotency_key="mint-1") == tx
    assert chain.balance_of(token, "sam") == 100
    chain.transfer(token, "sam", "ana", 30, idempotency_key="t-1")
    chain.burn(token, "ana", 10, idempotency_key="b-1")
    assert (chain.balance_of(token, "sam"), chain.balance_of(token, "ana")) == (70, 20)
    with pytest.raises(InsufficientBalanceError, match="holds 20, not 50"):
        chain.burn(token, "ana", 50, idempotency_key="b-2")
    assert [t[1] for t in sim.transactions] == ["mint", "transfer", "burn"]
    with pytest.raises(UnknownResourceError):
        chain.mint("0xnope", "sam", 1, idempotency_key="m")


def test_a_lost_mint_minted_once() -> None:
    chain = SimulatedChain()
    token = chain.deploy("T", "o", idempotency_key="d")
    chain.simulation.fail("mint", "lost")
    with pytest.raises(ResponseLostError):
        chain.mint(token, "sam", 5, idempotency_key="m")
    chain.mint(token, "sam", 5, idempotency_key="m")
    assert chain.balance_of(token, "sam") == 5 and len(chain.transactions) == 1


def test_voice_and_appearance_cloning() -> None:
    voice, face = SimulatedVoice(min_samples=3), SimulatedAppearance()
    samples = ["a.wav", "b.wav", "c.wav"]
    voice_id = voice.clone_voice("maya", samples, idempotency_key="v")
    assert voice.clone_voice("maya", samples, idempotency_key="v") == voice_id
    assert voice.voices[voice_id] == tuple(samples)
    with pytest.raises(ValueError, match="at least 3 samples"):
        voice.clone_voice("maya", samples[:2], idempotency_key="v2")
    avatar = face.clone_appearance("maya", ["face.png"], idempotency_key="a")
    assert avatar.startswith("avatar_sim_") and face.avatars[avatar] == ("face.png",)
    with pytest.raises(ValueError, match="at least one image"):
        face.clone_appearance("maya", [], idempotency_key="a2")


class RecordingPayments(SimulatedPayments):
    """A stand-in for a developer's real client, loaded by its import path."""


def test_providers_are_simulated_by_default_and_real_by_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from agents.errors import ConfigurationError
    from agents.providers import Providers, ProviderSettings, SimulatedChain

    default = Providers.from_settings(ProviderSettings())
    assert isinstance(default.payments, SimulatedPayments)
    assert isinstance(default.chain, SimulatedChain)
    monkeypatch.setenv(
        "ONE_PAYMENTS_PROVIDER", "tests.agents.providers.test_simulators:RecordingPayments"
    )
    assert isinstance(Providers.from_settings().payments, RecordingPayments)
    with pytest.raises(
        ConfigurationError, match="ONE_VOICE_PROVIDER='nope.nowhere:Voice' does not import"
    ):
        Providers.from_settings(ProviderSettings(voice_provider="nope.nowhere:Voice"))
    with pytest.raises(ConfigurationError, match="failed to start"):
        Providers.from_settings(ProviderSettings(chain_provider="json:loads"))


def in_a_process(call: Callable[[], object]) -> int | None:
    """Run `call` in a forked process and return its exit code (-9: it was killed)."""
    process = multiprocessing.get_context("fork").Process(target=call)
    process.start()
    process.join(timeout=60)
    return process.exitcode


def test_objects_on_one_file_share_the_state_and_the_faults(tmp_path: Path) -> None:
    path = tmp_path / "simulators.db"
    here, there = SimulatedPayments(path), SimulatedPayments(path)
    charge = here.charge("cus_1", 500, "usd", idempotency_key="k", reference="order-1")
    assert there.charges == {charge.id: charge} and there.find("order-1") == charge
    assert there.charge("cus_1", 500, "usd", idempotency_key="k", reference="order-1") == charge
    there.decline("cus_2")
    with pytest.raises(PaymentDeclinedError):
        here.charge("cus_2", 500, "usd", idempotency_key="k2")
    here.simulation.fail("refund", "unavailable")
    with pytest.raises(ProviderUnavailableError):
        there.refund(charge.id, idempotency_key="r")
    assert here.refund(charge.id, idempotency_key="r").status == "refunded"
    assert SimulatedChain(path).balances == {}  # another service in the same file: its own
    assert SimulatedPayments().charges == {}  # without a path: in memory, private


def test_a_process_sees_what_another_did(tmp_path: Path) -> None:
    path = tmp_path / "simulators.db"
    chain = SimulatedChain(path)
    token = chain.deploy("T", "o", idempotency_key="d")
    chain.simulation.fail("mint", "lost")  # armed here, fires in the other process

    def mint() -> None:
        with contextlib.suppress(ResponseLostError):
            SimulatedChain(path).mint(token, "sam", 5, idempotency_key="m")
            os._exit(3)  # the fault did not fire
        os._exit(0)

    assert in_a_process(mint) == 0
    assert chain.balance_of(token, "sam") == 5
    assert chain.mint(token, "sam", 5, idempotency_key="m") == chain.transactions[0][0]
    assert len(chain.transactions) == 1


def test_a_crash_before_the_provider_acts_leaves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "simulators.db"
    payments = SimulatedPayments(path)
    payments.simulation.fail("charge", "crash_before")

    def charge() -> None:
        SimulatedPayments(path).charge("cus_1", 500, "usd", idempotency_key="k")
        os._exit(3)  # not killed

    assert in_a_process(charge) == -signal.SIGKILL
    assert payments.charges == {}
    assert in_a_process(charge) == 3  # the crash was used up: the restarted call goes through
    assert len(payments.charges) == 1


def test_a_crash_after_the_provider_acts_leaves_the_effect(tmp_path: Path) -> None:
    path = tmp_path / "simulators.db"
    payments = SimulatedPayments(path)
    payments.simulation.fail("charge", "crash_after")

    def charge() -> None:
        SimulatedPayments(path).charge("cus_1", 500, "usd", idempotency_key="k")
        os._exit(3)

    assert in_a_process(charge) == -signal.SIGKILL
    [made] = payments.charges.values()  # charged, though the caller never heard of it
    assert payments.charge("cus_1", 500, "usd", idempotency_key="k") == made
    assert list(payments.charges) == [made.id]
