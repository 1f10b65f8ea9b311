"""Graph runs on PostgreSQL: the ontology and the checkpoints both in a server, as ONE runs
beyond one machine. A gate resumed from a fresh connection, a purchase sent from several
threads at once, finished runs pruned."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

from agents import Model, ScriptedChatModel
from agents.providers import Providers, SimulatedPayments
from graphs import Deps, Runs, checkpointer, elevate, purchase
from ontology import Store
from tests.servers import Postgres


def test_runs_on_postgresql_wait_resume_and_purchase_once(
    pg_server: Postgres, tmp_path: Path
) -> None:
    url = pg_server.new_database()
    providers = Providers.simulated(tmp_path / "simulators.db")
    model = Model(ScriptedChatModel(replies=[]), name="unused")
    graphs = {elevate.NAME: elevate.build(), purchase.NAME: purchase.build()}

    with Store.open(url) as store, checkpointer(url) as saver:
        creator = store.entities.create("creator", "Maya")
        fan = store.entities.create("audience_member", "Sam")
        runs = Runs(Deps(store, model, providers=providers), saver, graphs)
        waiting = elevate.start_journey(runs, creator.id, fan.id)
        assert waiting.status == "interrupted"
        token = purchase.deploy_token(store, providers.chain, creator.id, "MAYA")

    with Store.open(url) as store, checkpointer(url) as saver:  # a new process would do this
        runs = Runs(Deps(store, model, providers=providers), saver, graphs)
        charge = providers.payments.charge(fan.id, 10_000, "usd", idempotency_key="gate")
        done = elevate.confirm_payment(runs, waiting.id, charge.id)
        assert done.status == "completed" and done.values["outcome"] == "completed"
        steps = store.events.timeline(type="journey_step_completed", limit=20).items
        assert [e.metadata["stepId"] for e in steps] == list(elevate.STEPS)

        request = purchase.PurchaseRequest(
            purchase_id="pg-1", fan_id=fan.id, token_id=token.id, amount=50, usd_cents=500
        )
        results: list[purchase.Purchase] = []
        threads = [
            threading.Thread(target=lambda: results.append(purchase.purchase_tokens(runs, request)))
            for _ in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(results) == 4 and len({r.run_id for r in results}) == 1
        final = runs.get(results[0].run_id)
        assert final.status == "completed" and final.values["status"] == "completed"
        assert isinstance(providers.payments, SimulatedPayments)
        assert [c.reference for c in providers.payments.charges.values()].count("pg-1") == 1
        assert purchase.balance(store, fan.id, token.id) == 50
        assert providers.chain.balance_of(token.properties["contractAddress"], fan.id) == 50

        assert runs.prune(older_than=timedelta(0)) == 2  # both runs ended: checkpoints go
        assert saver.get_tuple({"configurable": {"thread_id": waiting.thread_id}}) is None
        assert runs.get(waiting.id).status == "completed"  # the events stay
