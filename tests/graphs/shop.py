"""A creator selling tokens, in files several processes share: the ontology, the
checkpoints and the simulated payments and chain. Run as a script, it is one process of a
crash or concurrency test:

    python -m tests.graphs.shop DIR buy PURCHASE_ID [TIMES]   submit a purchase
    python -m tests.graphs.shop DIR recover                   finish unfinished purchases
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from agents import Model, ScriptedChatModel
from agents.providers import Providers
from graphs import Deps, Runs, checkpointer, purchase
from ontology import Store

FAN, CREATOR = "Sam", "Maya"


@dataclass
class Shop:
    runs: Runs
    store: Store
    providers: Providers
    fan_id: str
    token_id: str

    def request(
        self, purchase_id: str, amount: int = 100, cents: int = 1_000
    ) -> purchase.PurchaseRequest:
        return purchase.PurchaseRequest(
            purchase_id=purchase_id,
            fan_id=self.fan_id,
            token_id=self.token_id,
            amount=amount,
            usd_cents=cents,
        )


@contextmanager
def open_shop(directory: Path) -> Iterator[Shop]:
    """The shop in `directory`, set up the first time (idempotently)."""
    directory.mkdir(parents=True, exist_ok=True)
    providers = Providers.simulated(directory / "simulators.db")
    with Store.open(f"sqlite:///{directory / 'one.db'}", busy_timeout=60) as store:
        creator = _entity(store, "creator", CREATOR, "00000000-0000-4000-8000-00000000c0de")
        fan = _entity(store, "audience_member", FAN, "00000000-0000-4000-8000-0000000000f1")
        token = purchase.deploy_token(store, providers.chain, creator, "MAYA")
        model = Model(ScriptedChatModel(replies=[]), name="unused")
        with checkpointer(f"sqlite:///{directory / 'checkpoints.db'}") as saver:
            runs = Runs(
                Deps(store, model, providers=providers), saver, {purchase.NAME: purchase.build()}
            )
            yield Shop(runs, store, providers, fan, token.id)


def _entity(store: Store, type: str, name: str, id: str) -> str:
    if store.entities.find(id) is None:
        try:
            store.entities.create(type, name, id=id)
        except Exception:  # another process created it a moment ago
            store.entities.get(id)
    return id


def main(argv: list[str]) -> None:
    directory, command = Path(argv[0]), argv[1]
    with open_shop(directory) as shop:
        if command == "buy":
            for _ in range(int(argv[3]) if len(argv) > 3 else 1):
                purchase.purchase_tokens(shop.runs, shop.request(argv[2]))
        elif command == "recover":
            shop.runs.recover(graph=purchase.NAME, retry_failed=True)
        else:
            raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
