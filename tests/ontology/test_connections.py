"""Contract: connections, on every backend."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ontology import Store
from ontology.errors import InvalidInputError, NotFoundError, UnknownTypeError


@pytest.fixture
def pair(store: Store) -> tuple[str, str]:
    return (
        store.entities.create("creator", "Ada").id,
        store.entities.create("ai_clone", "Ada's clone").id,
    )


def test_connect_and_query_from_to_type(store: Store, pair: tuple[str, str]) -> None:
    ada, clone = pair
    fan = store.entities.create("audience_member", "Sam").id
    owns = store.connections.connect(ada, clone, "owns", {"revenue_share": 0.5}, strength=1.0)
    clone_of = store.connections.connect(clone, ada, "clone_of")
    follows = store.connections.connect(fan, ada, "following")
    assert owns.metadata == {"revenueShare": 0.5}
    assert store.connections.get(owns.id) == owns
    assert store.connections.query(from_id=ada).items == [owns]
    assert store.connections.query(to_id=ada).items == [clone_of, follows]
    assert store.connections.query(to_id=ada, type="following").items == [follows]
    assert store.connections.query(from_id=clone, type="clone_of").items == [clone_of]
    assert store.connections.query(type="owns").items == [owns]
    first = store.connections.query(to_id=ada, limit=1)
    assert first.items == [clone_of]
    assert store.connections.query(to_id=ada, limit=1, cursor=first.next_cursor).items == [follows]


def test_a_connection_to_a_missing_entity_is_refused(store: Store, pair: tuple[str, str]) -> None:
    ada, _ = pair
    with pytest.raises(NotFoundError, match="no entity 'ghost'"):
        store.connections.connect(ada, "ghost", "owns")
    gone = store.entities.create("video", "v").id
    store.entities.delete(gone)
    with pytest.raises(NotFoundError, match=gone):
        store.connections.connect(ada, gone, "owns")
    assert store.connections.query(from_id=ada).items == []


def test_bad_connections_are_refused(store: Store, pair: tuple[str, str]) -> None:
    ada, clone = pair
    with pytest.raises(UnknownTypeError, match="did you mean 'owns'"):
        store.connections.connect(ada, clone, "own")
    with pytest.raises(InvalidInputError, match="metadata.transactionType"):
        store.connections.connect(ada, clone, "transacted", {"amount": 3})
    with pytest.raises(InvalidInputError, match="^strength:"):
        store.connections.connect(ada, clone, "owns", strength=1.5)
    with pytest.raises(InvalidInputError, match="^valid_to:"):
        store.connections.connect(
            ada,
            clone,
            "owns",
            valid_from=datetime(2026, 2, 1, tzinfo=UTC),
            valid_to=datetime(2026, 1, 1, tzinfo=UTC),
        )
    assert store.connections.query(from_id=ada).items == []


def test_patch_and_disconnect(store: Store, pair: tuple[str, str]) -> None:
    ada, clone = pair
    held = store.connections.connect(clone, ada, "holds_tokens", {"balance": 10})
    patched = store.connections.patch(held.id, {"balance": 25}, strength=0.3)
    assert patched.metadata == {"balance": 25.0} and patched.strength == 0.3
    with pytest.raises(InvalidInputError, match="metadata.balance"):
        store.connections.patch(held.id, {"balance": -1})
    assert store.connections.get(held.id).metadata == {"balance": 25.0}
    store.connections.disconnect(held.id)
    with pytest.raises(NotFoundError):
        store.connections.get(held.id)
    with pytest.raises(NotFoundError):
        store.connections.disconnect(held.id)


def test_validity_window_reads_back(store: Store, pair: tuple[str, str]) -> None:
    ada, clone = pair
    start = datetime(2026, 1, 1, 12, 0, 0, 123000, tzinfo=UTC)
    c = store.connections.connect(ada, clone, "owns", valid_from=start)
    assert store.connections.get(c.id).valid_from == start and c.valid_to is None
