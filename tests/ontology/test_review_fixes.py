"""Failure modes found in review: lost updates, opening errors, limits, a self-deadlock."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from ontology import Catalogue, EventType, Store
from ontology.errors import (
    CatalogueError,
    InvalidInputError,
    TransactionFailedError,
)


def test_concurrent_patches_of_one_entity_lose_nothing(shared_url: str) -> None:
    with Store.open(shared_url) as store:
        ids = [store.entities.create("creator", f"c{i}").id for i in range(40)]

        def patch(key: str) -> None:
            for id_ in ids:
                store.entities.patch(id_, {key: 1})

        threads = [threading.Thread(target=patch, args=(k,)) for k in ("a", "b", "c")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert all(store.entities.get(i).properties == {"a": 1, "b": 1, "c": 1} for i in ids)


def test_concurrent_increments_all_count(shared_url: str) -> None:
    with Store.open(shared_url) as store:
        id_ = store.entities.create("creator", "c").id

        def bump() -> None:
            for _ in range(25):
                store.entities.increment(id_, "n")

        threads = [threading.Thread(target=bump) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert store.entities.get(id_).properties["n"] == 100


def test_values_too_long_for_their_column_are_refused_on_every_backend(
    store: Store, creator: str
) -> None:
    with pytest.raises(InvalidInputError, match="^run_id: must be at most 128"):
        store.events.append("user_joined", creator, run_id="r" * 129)
    with pytest.raises(InvalidInputError, match="^idempotency_key: must be at most 256"):
        store.events.append("user_joined", creator, idempotency_key="k" * 257)
    with pytest.raises(InvalidInputError, match="^id: must be at most 36"):
        store.entities.create("creator", "x", id="x" * 37)
    with pytest.raises(InvalidInputError, match="NUL"):
        store.events.append("user_joined", creator, metadata={"note": "a\x00b"})
    with pytest.raises(InvalidInputError, match="NUL"):
        store.events.append(
            "clone_interaction", creator, metadata={"message": "hi\x00", "response": "ok"}
        )
    assert store.events.timeline().items == []
    with pytest.raises(CatalogueError, match="at most 64"):
        Catalogue().register(EventType("x" * 65, "growth"))


def test_a_database_that_cannot_be_opened_says_why(tmp_path: Path) -> None:
    from tests.servers import free_port

    with pytest.raises(InvalidInputError, match="not a database ONE can use"):
        Store.open("nonsense://what")
    with pytest.raises(InvalidInputError, match="not a database ONE can use"):
        Store.open("mysql://user@127.0.0.1/one")
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(InvalidInputError, match="cannot create the database file"):
        Store.open(f"sqlite:///{blocker}/one.db")
    with pytest.raises(TransactionFailedError, match="check that the server is up"):
        Store.open(f"postgresql://nobody@127.0.0.1:{free_port()}/one")


def test_opening_a_database_another_writer_holds_does_not_wait(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'one.db'}"
    holder = Store.open(url)
    with holder.transaction() as tx:
        tx.entities.create("creator", "Ada")  # the write lock is held until the block ends
        Store.open(url, busy_timeout=0.2).close()  # the schema check only reads
    holder.close()


@pytest.mark.timeout(10)
def test_the_store_inside_its_own_transaction_in_memory_is_an_error_not_a_hang() -> None:
    store = Store.open("sqlite://")
    ada = store.entities.create("creator", "Ada")
    expected = pytest.raises(TransactionFailedError, match=r"use the transaction \(tx.entities")
    with expected, store.transaction() as tx:
        tx.entities.patch(ada.id, {"x": 1})
        store.entities.get(ada.id)
    assert store.entities.get(ada.id).properties == {}  # and the transaction rolled back
