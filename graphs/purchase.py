"""Buying a creator's tokens (the seeds' `TokenService.purchaseTokens`), as a saga.

charge (payments) → mint (chain) → record: `tokens_purchased`, `payment_processed` and
the fan's `holds_tokens` balance, in one transaction. If the charge or the mint fails,
`compensate` refunds the charge and burns what was minted, and records both. Every call
to a provider carries an idempotency key made from the purchase id, so a node that runs
again after a crash repeats nothing, and the same purchase submitted twice (or twenty
times, from several processes) charges and mints once: the purchase id is the run id.

A response lost in transit is retried with the same key. When the saga cannot know whether
the provider acted (the answers stayed lost, or a process killed after the provider acted
left no trace but the provider's), compensation finds out: the charge by its reference (the
purchase id), the mint by asking again with its own key; then it reverses.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from langgraph.graph import END, START, StateGraph
from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import TypedDict

from agents.providers import Chain, retried
from agents.providers.errors import PaymentDeclinedError, ProviderCallError
from graphs._deps import Deps
from graphs._nodes import Call, Update, recorded
from graphs._runs import Run, Runs
from ontology import Entity, Store, Transaction
from ontology.errors import InvalidInputError

NAME = "token_purchase"
_NAMESPACE = uuid.UUID("6f1f4d0e-2f0b-4a51-9f57-7c1b8f0e6a11")
T = TypeVar("T")

Status = Literal["pending", "completed", "declined", "refunded"]


class PurchaseState(TypedDict, total=False):
    creator_id: str
    purchase_id: str
    fan_id: str
    token_id: str
    contract: str
    amount: int
    usd_cents: int
    charge_id: str | None
    tx_hash: str | None
    status: Status
    compensate: bool
    error: str | None


class PurchaseRequest(BaseModel):
    """What a caller asks for: `amount` tokens of `token_id` for `fan_id`, paid `usd_cents`."""

    model_config = ConfigDict(frozen=True)

    purchase_id: str = Field(min_length=1, max_length=200)
    fan_id: str
    token_id: str
    amount: int = Field(gt=0, le=10**12)
    usd_cents: int = Field(gt=0, le=10**9)


@dataclass(frozen=True)
class Purchase:
    """A purchase as it stands: `pending` until the saga ends; then `completed`,
    `declined` (nothing charged) or `refunded` (charged, then compensated)."""

    purchase_id: str
    run_id: str
    status: Status
    charge_id: str | None
    tx_hash: str | None
    error: str | None


def run_id_of(purchase_id: str) -> str:
    """The run that carries a purchase: one per purchase id, whoever submits it."""
    return str(uuid.uuid5(_NAMESPACE, purchase_id))


def purchase_tokens(runs: Runs, request: PurchaseRequest) -> Purchase:
    """Buy tokens, once per `purchase_id`: submitting it again returns the same purchase.

    Raises:
        NotFoundError: the fan or the token does not exist.
        InvalidInputError: the token has no contract (deploy it with `deploy_token`).
    """
    store = runs.deps.store
    store.entities.get(request.fan_id)
    token = store.entities.get(request.token_id)
    contract = token.properties.get("contractAddress")
    if token.type != "token" or not contract:
        raise InvalidInputError(
            "token_id", f"{token.name} is not a deployed token; deploy it with deploy_token()"
        )
    owner = _owner(store, token)
    run = runs.start(
        NAME,
        {
            **request.model_dump(),
            "creator_id": owner,
            "contract": str(contract),
            "status": "pending",
        },
        run_id=run_id_of(request.purchase_id),
    )
    return _purchase(run)


def recover_purchases(runs: Runs) -> list[Purchase]:
    """Bring every unfinished purchase to its end: crashed ones resumed, failed ones (a
    provider that stayed down) tried again. Call it when a process starts."""
    return [_purchase(run) for run in runs.recover(graph=NAME, retry_failed=True)]


def _purchase(run: Run) -> Purchase:
    values = run.values
    return Purchase(
        str(values.get("purchase_id", "")),
        run.id,
        values.get("status", "pending"),
        values.get("charge_id"),
        values.get("tx_hash"),
        values.get("error"),
    )


def deploy_token(store: Store, chain: Chain, creator_id: str, symbol: str) -> Entity:
    """The creator's token: deployed on the chain and recorded once (`token_deployed`).

    Deploying again returns the same token."""
    creator = store.entities.get(creator_id)
    token_id = str(uuid.uuid5(_NAMESPACE, f"token:{creator.id}"))
    existing = store.entities.find(token_id)
    if existing is not None and existing.properties.get("contractAddress"):
        return existing
    address = chain.deploy(symbol, creator.id, idempotency_key=f"deploy:{creator.id}")
    with store.transaction() as tx:
        properties = {"symbol": symbol, "contractAddress": address, "network": "simulated"}
        if tx.entities.find(token_id) is None:
            tx.entities.create(
                "token", f"{creator.name} ({symbol})", properties, id=token_id, status="active"
            )
            tx.connections.connect(creator.id, token_id, "owns")
        tx.events.append(
            "token_deployed",
            creator.id,
            token_id,
            {"contractAddress": address, "network": "simulated", "symbol": symbol},
            idempotency_key=f"token_deployed:{token_id}",
        )
    return store.entities.get(token_id)


def balance(store: Store | Transaction, fan_id: str, token_id: str) -> int:
    """The fan's balance of the token, as ONE has recorded it."""
    held = store.connections.query(fan_id, token_id, "holds_tokens").items
    return int(held[0].metadata.get("balance", 0)) if held else 0


def _retrying(call: Callable[[], T]) -> T:
    """Call a provider, retrying what can be retried (same idempotency key each time)."""
    return retried(4, wait_s=0.02, max_wait_s=0.5)(call)


def _charge(state: Mapping[str, Any], call: Call) -> Update:
    pid = str(state["purchase_id"])
    payments = call.deps.providers.payments
    try:
        charge = _retrying(
            lambda: payments.charge(
                str(state["fan_id"]),
                int(state["usd_cents"]),
                "usd",
                idempotency_key=f"purchase:{pid}:charge",
                reference=pid,
            )
        )
    except PaymentDeclinedError as error:
        return {"status": "declined", "error": str(error)}
    except ProviderCallError as error:  # gave up: it may or may not have charged
        call.status, call.error = "failed", f"{type(error).__name__}: {error}"
        return {"compensate": True, "error": f"charge: {error}"}
    return {"charge_id": charge.id}


def _mint(state: Mapping[str, Any], call: Call) -> Update:
    try:
        return {"tx_hash": _retrying(lambda: _mint_once(state, call.deps.providers.chain))}
    except ProviderCallError as error:
        call.status, call.error = "failed", f"{type(error).__name__}: {error}"
        return {"compensate": True, "error": f"mint: {error}"}


def _mint_once(state: Mapping[str, Any], chain: Chain) -> str:
    """Mint the purchase's tokens: once, however often it is asked (the key is the same)."""
    return chain.mint(
        str(state["contract"]),
        str(state["fan_id"]),
        int(state["amount"]),
        idempotency_key=f"purchase:{state['purchase_id']}:mint",
    )


def _record(state: Mapping[str, Any], call: Call) -> Update:
    pid, fan, token = str(state["purchase_id"]), str(state["fan_id"]), str(state["token_id"])
    amount, cents = int(state["amount"]), int(state["usd_cents"])
    key = f"tokens_purchased:{pid}"
    with call.deps.store.transaction() as tx:
        if tx.events.find(key) is None:  # recorded once, also when this node runs again
            tx.events.append(
                "tokens_purchased",
                fan,
                token,
                {
                    "amount": amount,
                    "usdAmount": cents / 100,
                    "paymentId": state["charge_id"],
                    "txHash": state["tx_hash"],
                    "purchaseId": pid,
                },
                run_id=call.run_id,
                idempotency_key=key,
            )
            _payment(tx, state, call, "completed")
            _add_balance(tx, fan, token, amount)
    return {"status": "completed", "error": None}


def _compensate(state: Mapping[str, Any], call: Call) -> Update:
    """Undo what happened: refund the charge, burn the minted tokens; record both."""
    pid, providers = str(state["purchase_id"]), call.deps.providers
    charge_id = state.get("charge_id")
    if charge_id is None:  # the charge's answer was lost: did it happen?
        found = _retrying(lambda: providers.payments.find(pid))
        charge_id = found.id if found else None
    tx_hash = state.get("tx_hash")
    if tx_hash is None and state.get("charge_id") is not None:
        # The mint was tried, and may have happened even if this execution only ever heard
        # "unavailable": an execution killed after the chain minted leaves no trace here.
        # Asking again with the mint's own key returns that mint if it happened (else mints
        # now); either way the burn below leaves the fan with none of these tokens.
        try:
            tx_hash = _retrying(lambda: _mint_once(state, providers.chain))
        except ProviderCallError as error:
            if error.retryable:
                raise
            tx_hash = None  # refused (and the refusal is kept under its key): nothing minted
    burned = None
    if tx_hash is not None:
        burned = _retrying(
            lambda: providers.chain.burn(
                str(state["contract"]),
                str(state["fan_id"]),
                int(state["amount"]),
                idempotency_key=f"purchase:{pid}:burn",
            )
        )
    if charge_id is not None:
        _retrying(
            lambda: providers.payments.refund(
                str(charge_id), idempotency_key=f"purchase:{pid}:refund"
            )
        )
    with call.deps.store.transaction() as tx:
        if burned is not None:
            tx.events.append(
                "tokens_burned",
                str(state["fan_id"]),
                str(state["token_id"]),
                {"amount": int(state["amount"]), "reason": "purchase_failed", "txHash": burned},
                run_id=call.run_id,
                idempotency_key=f"tokens_burned:{pid}",
            )
        if charge_id is not None:
            _payment(tx, {**state, "charge_id": charge_id}, call, "refunded")
        else:
            _payment(tx, state, call, "failed")
    status: Status = "refunded" if charge_id is not None else "declined"
    return {"status": status, "charge_id": charge_id, "tx_hash": tx_hash}


def _declined(state: Mapping[str, Any], call: Call) -> Update:
    with call.deps.store.transaction() as tx:
        _payment(tx, state, call, "failed")
    return {}


def _payment(tx: Transaction, state: Mapping[str, Any], call: Call, status: str) -> None:
    pid = str(state["purchase_id"])
    tx.events.append(
        "payment_processed",
        str(state["fan_id"]),
        str(state["token_id"]),
        {
            "status": status,
            "amount": int(state["usd_cents"]) / 100,
            "currency": "usd",
            "paymentId": state.get("charge_id"),
            "method": "card",
            "purchaseId": pid,
            **({"error": state["error"]} if state.get("error") else {}),
        },
        run_id=call.run_id,
        idempotency_key=f"payment_processed:{status}:{pid}",
    )


def _add_balance(tx: Transaction, fan: str, token: str, amount: int) -> None:
    tx.entities.patch(token)  # locks the token's row: concurrent purchases take turns
    held = tx.connections.query(fan, token, "holds_tokens").items
    if held:
        current = int(held[0].metadata.get("balance", 0))
        tx.connections.patch(held[0].id, {"balance": current + amount})
    else:
        tx.connections.connect(fan, token, "holds_tokens", {"balance": amount})


def _owner(store: Store, token: Entity) -> str:
    owners = store.connections.query(to_id=token.id, type="owns").items
    if not owners:
        raise InvalidInputError(
            "token_id", f"{token.name} has no owner; deploy it with deploy_token()"
        )
    return owners[0].from_id


def _after_charge(state: PurchaseState) -> str:
    if state.get("status") == "declined":
        return "declined"
    return "compensate" if state.get("compensate") else "mint"


def _after_mint(state: PurchaseState) -> str:
    return "compensate" if state.get("compensate") else "record"


def build() -> StateGraph[Any, Deps, Any, Any]:
    graph: StateGraph[Any, Deps, Any, Any] = StateGraph(PurchaseState, context_schema=Deps)
    for name, step in {
        "charge": _charge,
        "mint": _mint,
        "record": _record,
        "compensate": _compensate,
        "declined": _declined,
    }.items():
        graph.add_node(name, recorded(NAME, name, step))
    graph.add_edge(START, "charge")
    graph.add_conditional_edges("charge", _after_charge, ["mint", "compensate", "declined"])
    graph.add_conditional_edges("mint", _after_mint, ["record", "compensate"])
    for end in ("record", "compensate", "declined"):
        graph.add_edge(end, END)
    return graph
