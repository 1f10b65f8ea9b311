"""The token purchase saga in one process: charge, mint, record; compensated on failure."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from agents.providers import SimulatedChain, SimulatedPayments
from agents.providers.errors import ProviderUnavailableError
from graphs import purchase
from ontology import Event
from ontology.errors import InvalidInputError, NotFoundError
from tests.graphs.shop import Shop, open_shop


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Shop]:
    with open_shop(tmp_path) as opened:
        yield opened


def events(shop: Shop, purchase_id: str, type: str) -> list[Event]:
    run_id = purchase.run_id_of(purchase_id)
    return [e for e in shop.store.events.read_run(run_id) if e.type == type]


def nodes(shop: Shop, purchase_id: str) -> list[tuple[str, str]]:
    run_id = purchase.run_id_of(purchase_id)
    return [
        (e.type, str(e.metadata["node"]))
        for e in shop.store.events.read_run(run_id)
        if e.type.startswith("node_")
    ]


def holdings(shop: Shop, fan_id: str | None = None) -> tuple[int, int]:
    """The fan's tokens as the chain holds them, and as ONE has recorded them."""
    fan = fan_id or shop.fan_id
    return (
        shop.chain.balance_of(shop.contract, fan),
        purchase.balance(shop.store, fan, shop.token_id),
    )


def operations(shop: Shop) -> list[tuple[str, int]]:
    return [(op, amount) for _, op, _, _, amount in shop.chain.transactions]


def payment_statuses(shop: Shop, purchase_id: str) -> list[str]:
    return [str(e.metadata["status"]) for e in events(shop, purchase_id, "payment_processed")]


def test_a_purchase_charges_once_mints_and_records(shop: Shop) -> None:
    bought = purchase.purchase_tokens(shop.runs, shop.request("p1", amount=100, cents=1_000))
    assert bought.status == "completed" and bought.error is None
    assert bought.run_id == purchase.run_id_of("p1")
    charge = shop.payments.get(str(bought.charge_id))
    assert list(shop.payments.charges) == [charge.id]
    assert (charge.customer, charge.amount_cents, charge.status) == (
        shop.fan_id,
        1_000,
        "succeeded",
    )
    assert charge.reference == "p1"
    assert operations(shop) == [("mint", 100)] and shop.chain.transactions[0][0] == bought.tx_hash
    assert holdings(shop) == (100, 100)
    [recorded] = events(shop, "p1", "tokens_purchased")
    assert (recorded.actor_id, recorded.target_id) == (shop.fan_id, shop.token_id)
    assert recorded.metadata == {
        "amount": 100,
        "usdAmount": 10.0,
        "paymentId": charge.id,
        "txHash": bought.tx_hash,
        "purchaseId": "p1",
    }
    [paid] = events(shop, "p1", "payment_processed")
    assert paid.metadata["status"] == "completed" and paid.metadata["paymentId"] == charge.id
    assert paid.metadata["amount"] == 10.0 and paid.metadata["currency"] == "usd"
    assert nodes(shop, "p1") == [
        ("node_started", "charge"),
        ("node_completed", "charge"),
        ("node_started", "mint"),
        ("node_completed", "mint"),
        ("node_started", "record"),
        ("node_completed", "record"),
    ]
    run = shop.runs.get(bought.run_id)
    assert run.status == "completed" and run.graph == purchase.NAME
    [owns] = shop.store.connections.query(to_id=shop.token_id, type="owns").items
    assert run.creator_id == owns.from_id


def test_a_declined_card_charges_and_mints_nothing(shop: Shop) -> None:
    declined = shop.request("p1", fan_id=shop.declined_fan_id)
    bought = purchase.purchase_tokens(shop.runs, declined)
    assert (bought.status, bought.charge_id, bought.tx_hash) == ("declined", None, None)
    assert bought.error is not None and "declined" in bought.error
    assert shop.payments.charges == {} and shop.chain.transactions == []
    assert holdings(shop, shop.declined_fan_id) == (0, 0)
    [failed] = events(shop, "p1", "payment_processed")
    assert failed.metadata["status"] == "failed" and "declined" in failed.metadata["error"]
    assert events(shop, "p1", "tokens_purchased") == []
    assert nodes(shop, "p1")[-2:] == [("node_started", "declined"), ("node_completed", "declined")]
    assert shop.runs.get(bought.run_id).status == "completed"


def test_a_mint_that_stays_unavailable_is_refunded(shop: Shop) -> None:
    shop.chain.simulation.fail("mint", "unavailable", times=4)  # every retry of the mint
    bought = purchase.purchase_tokens(shop.runs, shop.request("p1"))
    assert bought.status == "refunded" and bought.error is not None
    assert "unavailable" in bought.error
    charge = shop.payments.get(str(bought.charge_id))
    assert (charge.status, charge.refunded_cents) == ("refunded", 1_000)
    # Whether the mint happened is unknown to the saga (a killed execution might have
    # minted), so compensation asks with the mint's key, which mints now, and burns it.
    assert operations(shop) == [("mint", 100), ("burn", 100)]
    assert holdings(shop) == (0, 0)
    assert payment_statuses(shop, "p1") == ["refunded"]
    assert events(shop, "p1", "tokens_purchased") == []
    [burned] = events(shop, "p1", "tokens_burned")
    assert burned.metadata["amount"] == 100 and burned.metadata["reason"] == "purchase_failed"
    assert nodes(shop, "p1")[2:] == [
        ("node_started", "mint"),
        ("node_failed", "mint"),
        ("node_started", "compensate"),
        ("node_completed", "compensate"),
    ]


def test_a_lost_mint_is_found_again_and_burned(shop: Shop) -> None:
    shop.chain.simulation.fail("mint", "lost")  # minted; the answer never came back
    shop.chain.simulation.fail("mint", "unavailable", times=3)  # and the retries failed
    bought = purchase.purchase_tokens(shop.runs, shop.request("p1"))
    assert bought.status == "refunded"
    [(minted, *_), (burn, *_)] = shop.chain.transactions
    assert operations(shop) == [("mint", 100), ("burn", 100)]  # minted once, burned once
    assert bought.tx_hash == minted
    assert holdings(shop) == (0, 0)
    [burned] = events(shop, "p1", "tokens_burned")
    assert burned.metadata["txHash"] == burn
    assert shop.payments.get(str(bought.charge_id)).status == "refunded"
    assert payment_statuses(shop, "p1") == ["refunded"]


def test_a_lost_charge_is_found_by_reference_and_refunded(shop: Shop) -> None:
    shop.payments.simulation.fail("charge", "lost")
    shop.payments.simulation.fail("charge", "unavailable", times=3)
    bought = purchase.purchase_tokens(shop.runs, shop.request("p1"))
    assert bought.status == "refunded"
    [charge] = shop.payments.charges.values()
    assert charge.id == bought.charge_id and charge.reference == "p1"
    assert (charge.status, charge.refunded_cents) == ("refunded", 1_000)
    assert shop.chain.transactions == [] and holdings(shop) == (0, 0)
    [refunded] = events(shop, "p1", "payment_processed")
    assert refunded.metadata["status"] == "refunded" and refunded.metadata["paymentId"] == charge.id
    assert nodes(shop, "p1") == [
        ("node_started", "charge"),
        ("node_failed", "charge"),
        ("node_started", "compensate"),
        ("node_completed", "compensate"),
    ]


def test_a_charge_that_never_went_through_is_declined(shop: Shop) -> None:
    shop.payments.simulation.fail("charge", "unavailable", times=4)
    bought = purchase.purchase_tokens(shop.runs, shop.request("p1"))
    assert (bought.status, bought.charge_id) == ("declined", None)
    assert shop.payments.charges == {} and shop.chain.transactions == []
    assert payment_statuses(shop, "p1") == ["failed"]


def test_a_mint_the_chain_refuses_is_refunded(shop: Shop) -> None:
    [owns] = shop.store.connections.query(to_id=shop.token_id, type="owns").items
    with shop.store.transaction() as tx:  # a token whose contract the chain does not know
        token = tx.entities.create("token", "Lost (LOST)", {"contractAddress": "0xnowhere"})
        tx.connections.connect(owns.from_id, token.id, "owns")
    request = shop.request("p1").model_copy(update={"token_id": token.id})
    bought = purchase.purchase_tokens(shop.runs, request)
    assert bought.status == "refunded" and bought.tx_hash is None
    assert bought.error is not None and "no token contract" in bought.error
    assert shop.payments.get(str(bought.charge_id)).status == "refunded"
    assert shop.chain.transactions == [] and events(shop, "p1", "tokens_burned") == []


def test_a_refund_failing_once_is_retried(shop: Shop) -> None:
    shop.chain.simulation.fail("mint", "unavailable", times=4)
    shop.payments.simulation.fail("refund", "unavailable")
    bought = purchase.purchase_tokens(shop.runs, shop.request("p1"))
    assert bought.status == "refunded"
    [charge] = shop.payments.charges.values()
    assert (charge.status, charge.refunded_cents) == ("refunded", 1_000)


def test_a_refund_that_keeps_failing_fails_the_run_until_recovered(shop: Shop) -> None:
    shop.chain.simulation.fail("mint", "unavailable", times=4)
    shop.payments.simulation.fail("refund", "unavailable", times=4)
    with pytest.raises(ProviderUnavailableError):
        purchase.purchase_tokens(shop.runs, shop.request("p1"))
    run_id = purchase.run_id_of("p1")
    assert shop.runs.get(run_id).status == "failed"
    [charge] = shop.payments.charges.values()
    assert charge.status == "succeeded"  # charged, not yet refunded
    [recovered] = purchase.recover_purchases(shop.runs)
    assert recovered.status == "refunded" and recovered.purchase_id == "p1"
    assert shop.runs.get(run_id).status == "completed"
    assert shop.payments.get(charge.id).status == "refunded"
    assert holdings(shop) == (0, 0) and payment_statuses(shop, "p1") == ["refunded"]
    assert [e[0] for e in nodes(shop, "p1")].count("node_failed") == 2  # mint, compensate


def test_submitting_a_purchase_again_returns_it_and_charges_once(shop: Shop) -> None:
    first = purchase.purchase_tokens(shop.runs, shop.request("p1"))
    again = purchase.purchase_tokens(shop.runs, shop.request("p1"))
    assert again == first
    assert len(shop.payments.charges) == 1 and operations(shop) == [("mint", 100)]
    assert holdings(shop) == (100, 100)
    assert len(events(shop, "p1", "tokens_purchased")) == 1
    assert len(events(shop, "p1", "run_accepted")) == 1


def test_a_purchase_id_used_again_for_another_amount_is_refused(shop: Shop) -> None:
    purchase.purchase_tokens(shop.runs, shop.request("p1", amount=100))
    with pytest.raises(InvalidInputError, match="another input"):
        purchase.purchase_tokens(shop.runs, shop.request("p1", amount=500))
    assert len(shop.payments.charges) == 1 and holdings(shop) == (100, 100)


def test_an_unknown_fan_or_token_is_not_found(shop: Shop) -> None:
    missing = "00000000-0000-4000-8000-00000000dead"
    with pytest.raises(NotFoundError):
        purchase.purchase_tokens(shop.runs, shop.request("p1", fan_id=missing))
    request = shop.request("p2").model_copy(update={"token_id": missing})
    with pytest.raises(NotFoundError):
        purchase.purchase_tokens(shop.runs, request)
    not_a_token = shop.request("p3").model_copy(update={"token_id": shop.fan_id})
    with pytest.raises(InvalidInputError, match="not a deployed token"):
        purchase.purchase_tokens(shop.runs, not_a_token)
    assert shop.payments.charges == {} and shop.store.events.runs() == []


def test_a_second_purchase_adds_to_the_balance(shop: Shop) -> None:
    purchase.purchase_tokens(shop.runs, shop.request("p1", amount=100))
    purchase.purchase_tokens(shop.runs, shop.request("p2", amount=150))
    assert holdings(shop) == (250, 250)
    assert len(shop.payments.charges) == 2
    assert len(shop.store.connections.query(shop.fan_id, shop.token_id, "holds_tokens").items) == 1


def test_deploying_a_token_again_returns_it(shop: Shop) -> None:
    creator = shop.runs.get(purchase.purchase_tokens(shop.runs, shop.request("p1")).run_id)
    again = purchase.deploy_token(shop.store, shop.chain, creator.creator_id, "MAYA")
    assert again.id == shop.token_id and again.properties["contractAddress"] == shop.contract
    assert len(shop.store.events.timeline(type="token_deployed").items) == 1


def test_the_simulators_keep_the_purchase_in_their_file(shop: Shop, tmp_path: Path) -> None:
    bought = purchase.purchase_tokens(shop.runs, shop.request("p1"))
    payments = SimulatedPayments(tmp_path / "simulators.db")
    chain = SimulatedChain(tmp_path / "simulators.db")
    assert payments.charges == shop.payments.charges and payments.find("p1") is not None
    assert chain.balance_of(shop.contract, shop.fan_id) == 100
    assert chain.transactions == shop.chain.transactions
    with open_shop(tmp_path) as reopened:  # another shop on the same files: the same purchase
        assert purchase.purchase_tokens(reopened.runs, reopened.request("p1")) == bought
        assert len(reopened.payments.charges) == 1


def test_the_same_purchase_from_many_threads_happens_once(shop: Shop) -> None:
    with ThreadPoolExecutor(8) as pool:
        bought = list(
            pool.map(lambda _: purchase.purchase_tokens(shop.runs, shop.request("p1")), range(16))
        )
    assert {b.run_id for b in bought} == {purchase.run_id_of("p1")}
    assert len(shop.payments.charges) == 1 and operations(shop) == [("mint", 100)]
    assert holdings(shop) == (100, 100)
    assert len(events(shop, "p1", "tokens_purchased")) == 1
    assert len(events(shop, "p1", "run_accepted")) == 1
    assert [e.type for e in shop.store.events.read_run(bought[0].run_id)].count("node_started") == 3
    assert shop.runs.get(bought[0].run_id).values["status"] == "completed"
