"""A creator selling tokens, in files several processes share: the ontology, the
checkpoints and the simulated payments and chain. Run as a script (or `main` in a forked
process), it is one process of a crash or concurrency test:

    python -m tests.graphs.shop DIR buy PURCHASE_ID [TIMES] [--amount N] [--cents N]
                                        [--fan sam|dee] [--die-after TYPE[:NODE]]
    python -m tests.graphs.shop DIR recover [--die-after TYPE[:NODE]]

Sam's card works; Dee's is always declined. `--die-after` kills the process (SIGKILL)
right after ONE appends an event of that type (of that node, for the node events): inside
a transaction, before it commits, for the events a step writes in one; between a node's
end and its checkpoint for `node_completed`. Faults in the providers are armed from outside,
in the simulators' file (`simulation.fail`), before the process starts.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents import Model, ScriptedChatModel
from agents.providers import (
    Providers,
    SimulatedAppearance,
    SimulatedChain,
    SimulatedPayments,
    SimulatedVoice,
)
from graphs import Deps, Runs, checkpointer, purchase
from ontology import Store
from ontology._events import Events

FAN, DECLINED_FAN, CREATOR = "Sam", "Dee", "Maya"
FAN_ID = "00000000-0000-4000-8000-0000000000f1"
DECLINED_FAN_ID = "00000000-0000-4000-8000-0000000000f2"


@dataclass
class Shop:
    runs: Runs
    store: Store
    payments: SimulatedPayments
    chain: SimulatedChain
    fan_id: str
    declined_fan_id: str
    token_id: str

    @property
    def contract(self) -> str:
        return str(self.store.entities.get(self.token_id).properties["contractAddress"])

    def request(
        self, purchase_id: str, amount: int = 100, cents: int = 1_000, fan_id: str | None = None
    ) -> purchase.PurchaseRequest:
        return purchase.PurchaseRequest(
            purchase_id=purchase_id,
            fan_id=fan_id or self.fan_id,
            token_id=self.token_id,
            amount=amount,
            usd_cents=cents,
        )


@contextmanager
def open_shop(directory: Path) -> Iterator[Shop]:
    """The shop in `directory`, set up the first time (idempotently)."""
    directory.mkdir(parents=True, exist_ok=True)
    simulators = directory / "simulators.db"
    payments, chain = SimulatedPayments(simulators), SimulatedChain(simulators)
    providers = Providers(
        payments, chain, SimulatedVoice(simulators), SimulatedAppearance(simulators)
    )
    with Store.open(f"sqlite:///{directory / 'one.db'}", busy_timeout=60) as store:
        creator = _entity(store, "creator", CREATOR, "00000000-0000-4000-8000-00000000c0de")
        fan = _entity(store, "audience_member", FAN, FAN_ID)
        declined = _entity(store, "audience_member", DECLINED_FAN, DECLINED_FAN_ID)
        payments.decline(declined)
        token = purchase.deploy_token(store, chain, creator, "MAYA")
        model = Model(ScriptedChatModel(replies=[]), name="unused")
        with checkpointer(f"sqlite:///{directory / 'checkpoints.db'}") as saver:
            runs = Runs(
                Deps(store, model, providers=providers), saver, {purchase.NAME: purchase.build()}
            )
            yield Shop(runs, store, payments, chain, fan, declined, token.id)


def _entity(store: Store, type: str, name: str, id: str) -> str:
    if store.entities.find(id) is None:
        try:
            store.entities.create(type, name, id=id)
        except Exception:  # another process created it a moment ago
            store.entities.get(id)
    return id


def die_after(event: str) -> None:
    """Kill this process (SIGKILL) once ONE has appended an event `TYPE` or `TYPE:NODE`."""
    kind, _, node = event.partition(":")
    append_many = Events.append_many

    def appending(self: Events, events: Sequence[Any]) -> Any:
        stored = append_many(self, events)
        if any(e.type == kind and e.metadata.get("node", node) == node for e in stored):
            os.kill(os.getpid(), signal.SIGKILL)
        return stored

    Events.append_many = appending  # type: ignore[method-assign]


def main(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.graphs.shop")
    parser.add_argument("directory", type=Path)
    parser.add_argument("command", choices=["buy", "recover"])
    parser.add_argument("purchase_id", nargs="?")
    parser.add_argument("times", nargs="?", type=int, default=1)
    parser.add_argument("--amount", type=int, default=100)
    parser.add_argument("--cents", type=int, default=1_000)
    parser.add_argument("--fan", choices=["sam", "dee"], default="sam")
    parser.add_argument("--die-after", metavar="TYPE[:NODE]")
    args = parser.parse_args(argv)
    with open_shop(args.directory) as shop:
        if args.die_after:
            die_after(args.die_after)
        if args.command == "recover":
            purchase.recover_purchases(shop.runs)
            return
        if not args.purchase_id:
            parser.error("buy needs a PURCHASE_ID")
        fan = shop.declined_fan_id if args.fan == "dee" else shop.fan_id
        request = shop.request(args.purchase_id, args.amount, args.cents, fan)
        for _ in range(args.times):
            purchase.purchase_tokens(shop.runs, request)


if __name__ == "__main__":
    main(sys.argv[1:])
