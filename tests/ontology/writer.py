"""A writer process for the concurrency and crash tests: `python -m tests.ontology.writer`.

Appends events and prints `ack KEY SEQ` for each one the store acknowledged (flushed at
once, so a parent that kills this process knows exactly what was acknowledged).

Modes:
  append URL ACTOR NAME COUNT   COUNT events keyed NAME-i, plus shared-i (same for every
                                writer), all in the run "shared", then exit.
  forever URL ACTOR NAME        like append, until killed.
  crash URL ACTOR               write in a transaction, then die before it commits.
"""

from __future__ import annotations

import itertools
import os
import signal
import sys

from ontology import NewEvent, Store


def append(store: Store, actor: str, name: str, count: int | None) -> None:
    for i in itertools.count() if count is None else range(count):
        for key in (f"{name}-{i}", f"shared-{i}"):
            e = store.events.append(
                "user_engaged", actor, metadata={"i": i}, run_id="shared", idempotency_key=key
            )
            print(f"ack {key} {e.seq}", flush=True)


def crash(store: Store, actor: str) -> None:
    with store.transaction() as tx:
        clone = tx.entities.create("ai_clone", "half-made clone")
        tx.connections.connect(actor, clone.id, "owns")
        tx.events.append_many([NewEvent(type="user_engaged", actor_id=actor)] * 50)
        print("written, not committed", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)


def main(mode: str, url: str, actor: str, *rest: str) -> None:
    store = Store.open(url)
    if mode == "crash":
        crash(store, actor)
    else:
        append(store, actor, rest[0], int(rest[1]) if mode == "append" else None)


if __name__ == "__main__":
    main(*sys.argv[1:])
