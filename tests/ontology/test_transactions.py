"""Contract: writes that belong together commit together, or not at all."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from ontology import Store
from ontology.errors import NotFoundError, TransactionFailedError


class BoomError(Exception):
    pass


def test_a_transaction_commits_everything_at_the_end(store: Store, creator: str) -> None:
    with store.transaction() as tx:
        clone = tx.entities.create("ai_clone", "clone", status="draft")
        tx.connections.connect(creator, clone.id, "owns")
        tx.events.append("clone_created", creator, clone.id, {"content_count": 1}, run_id="b")
        tx.tags.add(clone.id, "ai_clone", category="status")
        # Reads inside the transaction see its own writes.
        assert tx.entities.get(clone.id).status == "draft"
    assert store.entities.get(clone.id).name == "clone"
    assert [c.type for c in store.connections.query(from_id=creator).items] == ["owns"]
    assert [e.type for e in store.events.read_run("b")] == ["clone_created"]
    assert [t.name for t in store.tags.of(clone.id)] == ["ai_clone"]


def test_an_error_in_a_transaction_rolls_all_of_it_back(store: Store, creator: str) -> None:
    with pytest.raises(BoomError), store.transaction() as tx:
        clone = tx.entities.create("ai_clone", "clone")
        tx.connections.connect(creator, clone.id, "owns")
        tx.events.append(
            "clone_created", creator, clone.id, {"content_count": 1}, idempotency_key="clone-1"
        )
        tx.tags.add(creator, "has-clone")
        raise BoomError
    _assert_nothing_but_the_creator(store, creator)
    # The idempotency key was rolled back too: it is free for the real event.
    assert (
        store.events.append("user_joined", creator, idempotency_key="clone-1").type == "user_joined"
    )


def test_an_ontology_error_mid_transaction_rolls_back_the_earlier_writes(
    store: Store, creator: str
) -> None:
    with pytest.raises(NotFoundError), store.transaction() as tx:
        clone = tx.entities.create("ai_clone", "clone")
        tx.events.append("clone_created", creator, clone.id, {"content_count": 1})
        tx.connections.connect(clone.id, "ghost", "trained_on")
    _assert_nothing_but_the_creator(store, creator)


def _assert_nothing_but_the_creator(store: Store, creator: str) -> None:
    assert [e.id for e in store.entities.query(include_deleted=True).items] == [creator]
    assert store.connections.query().items == []
    assert store.events.timeline().items == []
    assert store.tags.of(creator) == []


def test_a_sqlite_file_s_writers_in_one_process_take_turns(tmp_path: Path) -> None:
    """Thirty threads appending at once all get in (queued in the process, not napping in
    SQLite's busy handler); a thread that writes through the store while inside its own
    write transaction is told so at once, not left waiting for the lock it holds."""
    with Store.open(f"sqlite:///{tmp_path / 'one.db'}") as store:
        maya = store.entities.create("creator", "Maya").id
        with ThreadPoolExecutor(30) as pool:
            list(pool.map(lambda n: store.events.append("user_joined", maya, maya), range(300)))
        assert len(store.events.timeline(type="user_joined", limit=500).items) == 300
        with store.transaction() as tx:
            tx.events.append("user_joined", maya, maya)
            with pytest.raises(TransactionFailedError, match="inside a write transaction"):
                store.events.append("user_joined", maya, maya)
        # The transaction's own append committed; the refused one wrote nothing.
        assert len(store.events.timeline(type="user_joined", limit=500).items) == 301


def test_a_child_forked_while_a_thread_writes_is_not_left_waiting_for_it(
    tmp_path: Path,
) -> None:
    """A process forked while one of its threads was in a write transaction (a Celery
    worker's children) starts with no writer queued ahead of it, not with a copy of a
    lock that nobody in it will release. (Its SQLite connections are another matter:
    SQLite's rule is to open them after the fork.)"""
    with Store.open(f"sqlite:///{tmp_path / 'one.db'}") as store:
        maya = store.entities.create("creator", "Maya").id
        writing, forked = threading.Event(), threading.Event()

        def slow_writer() -> None:
            with store.transaction() as tx:
                tx.events.append("user_joined", maya, maya)
                writing.set()
                forked.wait(10)

        writer = threading.Thread(target=slow_writer)
        writer.start()
        writing.wait(10)
        pid = os.fork()
        if pid == 0:
            writers = store._scope.db._writers
            os._exit(0 if writers is not None and writers._lock.acquire(blocking=False) else 1)
        forked.set()
        writer.join()
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
