"""Contract: the hot paths (Core statements on a plain connection) agree with the rest.

Entities and events are read and written by Core statements, while listings (and the
connections and tags) go through the ORM session of a transaction: inside one
transaction, each must see what the other wrote. Lists of ids and keys are bound a
parameter each up to `LISTED` values, and expanded beyond: both must behave the same.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from ontology import NewEvent, Store
from ontology._scope import LISTED
from ontology.errors import IdempotencyConflictError, NotFoundError


def test_a_transaction_sees_its_patches_in_listings_loaded_before(
    store: Store, creator: str
) -> None:
    with store.transaction() as tx:
        fan = tx.entities.create("audience_member", "Sam", {"level": 1})
        tx.tags.add(fan.id, "vip")
        # Loaded through the ORM first (a listing, a tag's entities), then patched.
        assert [e.properties for e in tx.entities.query("audience_member").items] == [{"level": 1}]
        assert [e.name for e in tx.tags.entities("vip")] == ["Sam"]
        tx.entities.patch(fan.id, {"level": 2}, name="Samantha", status="inactive")
        assert [e.properties for e in tx.entities.query("audience_member").items] == [{"level": 2}]
        assert [(e.name, e.status) for e in tx.tags.entities("vip")] == [("Samantha", "inactive")]
        tx.entities.delete(fan.id)
        assert tx.entities.query("audience_member").items == []
        assert tx.tags.entities("vip") == []
        assert tx.entities.find(fan.id) is None
        tx.entities.restore(fan.id)
        assert [e.id for e in tx.entities.query("audience_member").items] == [fan.id]
        # An entity created in the transaction can be connected and tagged in it.
        clone = tx.entities.create("ai_clone", "clone")
        tx.connections.connect(creator, clone.id, "owns")
        assert [e.id for e in tx.entities.query(owner=creator).items] == [clone.id]
    got = store.entities.get(fan.id)
    assert (got.name, got.status, got.properties, got.deleted_at) == (
        "Samantha",
        "inactive",
        {"level": 2},
        None,
    )
    assert got.updated_at >= got.created_at


def test_records_are_the_same_from_every_read(store: Store, creator: str) -> None:
    fan = store.entities.create("audience_member", "Sam", {"level": 1})
    patched = store.entities.patch(fan.id, {"level": None, "seen": True})
    assert patched.properties == {"seen": True}
    assert store.entities.get(fan.id) == patched == store.entities.find(fan.id)
    assert store.entities.query("audience_member").items == [patched]
    deleted = store.entities.delete(fan.id)
    assert deleted.deleted_at is not None
    assert store.entities.delete(fan.id) == deleted  # idempotent: nothing written again
    assert store.entities.get(fan.id, include_deleted=True) == deleted
    with pytest.raises(NotFoundError, match="it was deleted"):
        store.entities.patch(fan.id, {"level": 3})
    restored = store.entities.restore(fan.id)
    assert restored.deleted_at is None
    assert store.entities.restore(fan.id) == restored
    e = store.events.append("user_joined", fan.id, creator, {"via": "ad"}, run_id="r")
    assert store.events.get(e.seq) == e
    assert store.events.read_run("r") == [e]
    assert store.events.timeline(run_id="r").items == [e]


@pytest.mark.parametrize("actors", [1, 2, LISTED, LISTED + 1, 3 * LISTED])
def test_batches_of_any_size_check_every_actor_and_key(store: Store, actors: int) -> None:
    ids = [store.entities.create("audience_member", f"fan {i}").id for i in range(actors)]
    batch = [
        NewEvent(type="user_engaged", actor_id=a, metadata={"i": i}, idempotency_key=f"k{i}")
        for i, a in enumerate(ids)
    ]
    first = store.events.append_many(batch)
    assert [e.seq for e in first] == list(range(first[0].seq, first[0].seq + actors))
    # All stored: the same events again, and nothing written.
    assert store.events.append_many(batch) == first
    assert len(store.events.timeline(limit=1000).items) == actors
    # One key among them reused for another event: refused, nothing written.
    changed = [*batch[:-1], batch[-1].model_copy(update={"metadata": {"i": -1}})]
    with pytest.raises(IdempotencyConflictError, match=f"k{actors - 1}"):
        store.events.append_many([*changed, NewEvent(type="user_joined", actor_id=ids[0])])
    # A missing actor among them: the first missing one (by id) is named.
    store.entities.delete(ids[-1])
    with pytest.raises(NotFoundError, match=f"no entity '{ids[-1]}'"):
        store.events.append_many(
            [NewEvent(type="user_joined", actor_id=a, target_id=ids[0]) for a in ids]
        )
    with pytest.raises(NotFoundError, match="no entity '0-ghost'"):
        store.events.append_many(
            [NewEvent(type="user_joined", actor_id=a, target_id="z-ghost") for a in ids]
            + [NewEvent(type="user_joined", actor_id="0-ghost")]
        )
    assert len(store.events.timeline(limit=1000).items) == actors


def test_a_batch_over_several_runs_numbers_each_run(store: Store, creator: str) -> None:
    store.events.append("user_joined", creator, run_id="b")
    plain = store.events.append("user_joined", creator)
    batch = store.events.append_many(
        [
            NewEvent(type="user_engaged", actor_id=creator, run_id=run)
            for run in ("a", "b", None, "a", "c", "b", None)
        ]
    )
    assert [e.seq for e in batch] == list(range(plain.seq + 1, plain.seq + 8))
    assert [e.run_position for e in batch] == [0, 1, None, 1, 0, 2, None]
    assert [e.run_position for e in store.events.read_run("b")] == [0, 1, 2]
    assert store.events.read_run("a") == [batch[0], batch[3]]
    only = store.events.append_many([NewEvent(type="user_engaged", actor_id=creator)])
    assert only[0].seq == batch[-1].seq + 1 and only[0].run_position is None


def test_a_refused_key_leaves_the_transaction_usable(store: Store, creator: str) -> None:
    with store.transaction() as tx:
        first = tx.events.append("user_joined", creator, idempotency_key="k", run_id="r")
        with pytest.raises(IdempotencyConflictError):
            tx.events.append("user_engaged", creator, idempotency_key="k", run_id="r")
        with pytest.raises(NotFoundError):
            tx.events.append("user_engaged", "ghost", run_id="r")
        second = tx.events.append("user_engaged", creator, run_id="r")
        assert tx.events.find("k") == first
    assert store.events.read_run("r") == [first, second]
    assert [first.run_position, second.run_position] == [0, 1]


@pytest.mark.parametrize("run_id", [None, "r"])
@pytest.mark.parametrize("same", [True, False])
def test_a_key_another_transaction_commits_first_is_found_then(
    shared_url: str, run_id: str | None, same: bool
) -> None:
    """The second writer read no event with the key, and waits to write its own (on the
    key's index entry or the run's lock on PostgreSQL, the write lock on SQLite)."""
    with Store.open(shared_url) as one, Store.open(shared_url) as other:
        actor = one.entities.create("creator", "Ada").id
        got: dict[str, Any] = {}

        def second() -> None:
            try:
                got["event"] = other.events.append(
                    "user_joined",
                    actor,
                    metadata={"via": "ad" if same else "email"},
                    run_id=run_id,
                    idempotency_key="k",
                )
            except IdempotencyConflictError as e:
                got["error"] = e

        with one.transaction() as tx:
            first = tx.events.append(
                "user_joined", actor, metadata={"via": "ad"}, run_id=run_id, idempotency_key="k"
            )
            thread = threading.Thread(target=second)
            thread.start()
            time.sleep(0.5)
        thread.join(10)
        if same:
            assert got == {"event": first}
        else:
            assert list(got) == ["error"] and "metadata: stored" in str(got["error"])
        assert [e.seq for e in one.events.timeline().items] == [first.seq]
        after = one.events.append("user_engaged", actor, run_id=run_id)
        assert after.run_position == (None if run_id is None else 1)
