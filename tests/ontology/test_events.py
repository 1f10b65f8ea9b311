"""Contract: the event log, on every backend."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from ontology import NewEvent, Store
from ontology.errors import (
    IdempotencyConflictError,
    InvalidInputError,
    NotFoundError,
    UnknownTypeError,
)

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def _all(store: Store) -> list[int]:
    return [e.seq for e in store.events.timeline(limit=1000).items]


def test_append_and_read_back(store: Store, creator: str) -> None:
    clone = store.entities.create("ai_clone", "clone").id
    e = store.events.append(
        "clone_created",
        creator,
        clone,
        {"content_count": 3},
        run_id="run-1",
        idempotency_key="k-1",
        timestamp=T0,
    )
    assert store.events.get(e.seq) == e
    assert (e.type, e.actor_id, e.target_id, e.metadata) == (
        "clone_created",
        creator,
        clone,
        {"contentCount": 3, "personality": []},
    )
    assert (e.run_id, e.run_position, e.idempotency_key, e.timestamp) == ("run-1", 0, "k-1", T0)
    with pytest.raises(NotFoundError, match="no event"):
        store.events.get(e.seq + 100)


def test_bad_events_write_nothing(store: Store, creator: str) -> None:
    with pytest.raises(UnknownTypeError, match="did you mean 'user_joined'"):
        store.events.append("user_joind", creator)
    with pytest.raises(InvalidInputError, match="metadata.status"):
        store.events.append("payment_processed", creator, metadata={"status": "lost"})
    with pytest.raises(NotFoundError, match="no entity 'ghost'"):
        store.events.append("user_joined", "ghost")
    with pytest.raises(NotFoundError, match="no entity 'ghost'"):
        store.events.append("user_joined", creator, "ghost")
    with pytest.raises(InvalidInputError, match="^idempotency_key:"):
        store.events.append("user_joined", creator, idempotency_key=" ")
    assert _all(store) == []


def test_a_batch_is_all_or_nothing(store: Store, creator: str) -> None:
    good = NewEvent(type="user_joined", actor_id=creator)
    bad = NewEvent(type="payment_processed", actor_id=creator, metadata={"status": "?"})
    with pytest.raises(InvalidInputError):
        store.events.append_many([good, good, bad])
    with pytest.raises(NotFoundError):
        store.events.append_many([good, NewEvent(type="user_joined", actor_id="ghost")])
    assert _all(store) == []
    assert store.events.append_many([]) == []
    assert len(store.events.append_many([good] * 3)) == 3


def test_idempotency_key_returns_the_stored_event(store: Store, creator: str) -> None:
    first = store.events.append(
        "user_joined", creator, metadata={"via": "ad"}, idempotency_key="join-1", run_id="r"
    )
    again = store.events.append(
        "user_joined", creator, metadata={"via": "ad"}, idempotency_key="join-1", run_id="r"
    )
    assert again == first
    assert _all(store) == [first.seq]
    batch = store.events.append_many(
        [
            NewEvent(
                type="user_joined",
                actor_id=creator,
                metadata={"via": "ad"},
                idempotency_key="join-1",
                run_id="r",
            ),
            NewEvent(type="user_engaged", actor_id=creator, idempotency_key="eng-1"),
            NewEvent(type="user_engaged", actor_id=creator, idempotency_key="eng-1"),
        ]
    )
    assert batch[0] == first and batch[1] == batch[2]
    assert len(_all(store)) == 2
    assert store.events.read_run("r") == [first]
    assert store.events.find("join-1") == first
    assert store.events.find("never-used") is None


def test_idempotency_key_reused_with_different_content_is_refused(
    store: Store, creator: str
) -> None:
    store.events.append("user_joined", creator, metadata={"via": "ad"}, idempotency_key="k")
    with pytest.raises(IdempotencyConflictError, match="metadata: stored") as info:
        store.events.append("user_joined", creator, metadata={"via": "email"}, idempotency_key="k")
    assert info.value.key == "k"
    with pytest.raises(IdempotencyConflictError, match="type: stored 'user_joined'"):
        store.events.append("user_engaged", creator, metadata={"via": "ad"}, idempotency_key="k")
    with pytest.raises(IdempotencyConflictError):  # also inside one batch
        store.events.append_many(
            [
                NewEvent(type="user_engaged", actor_id=creator, idempotency_key="b"),
                NewEvent(type="user_joined", actor_id=creator, idempotency_key="b"),
            ]
        )
    assert len(_all(store)) == 1


def test_runs_number_their_events_and_read_back_from_a_position(store: Store, creator: str) -> None:
    a = [
        store.events.append(
            "agent_executed", creator, metadata={"agent_type": "x", "task": str(i)}, run_id="a"
        )
        for i in range(3)
    ]
    b = store.events.append("user_joined", creator, run_id="b")
    a += store.events.append_many(
        [NewEvent(type="user_engaged", actor_id=creator, run_id="a") for _ in range(2)]
    )
    assert [e.run_position for e in a] == [0, 1, 2, 3, 4]
    assert b.run_position == 0
    assert store.events.read_run("a") == a
    assert store.events.read_run("a", 3) == a[3:]
    assert store.events.read_run("a", 1, limit=2) == a[1:3]
    assert store.events.read_run("a", 9) == []
    assert store.events.read_run("nope") == []
    assert store.events.runs() == ["a", "b"]
    with pytest.raises(InvalidInputError, match="from_position"):
        store.events.read_run("a", -1)


def test_timeline_filters(store: Store, creator: str) -> None:
    fan = store.entities.create("audience_member", "Sam").id
    day = timedelta(days=1)
    joined = store.events.append("user_joined", fan, creator, timestamp=T0)
    paid = store.events.append(
        "payment_processed", fan, creator, {"status": "completed"}, timestamp=T0 + day
    )
    made = store.events.append("content_uploaded", creator, timestamp=T0 + 2 * day, run_id="r")

    def seqs(**kw: object) -> list[int]:
        return [e.seq for e in store.events.timeline(**kw).items]  # type: ignore[arg-type]

    assert seqs(actor_id=fan) == [joined.seq, paid.seq]
    assert seqs(target_id=creator) == [joined.seq, paid.seq]
    assert seqs(actor_id=creator) == [made.seq]
    assert seqs(type="payment_processed") == [paid.seq]
    assert seqs(actor_id=fan, type="user_joined") == [joined.seq]
    assert seqs(target_id=creator, type="payment_processed") == [paid.seq]
    assert seqs(since=T0 + day) == [paid.seq, made.seq]
    assert seqs(since=T0, until=T0 + day) == [joined.seq]
    assert seqs(run_id="r") == [made.seq]
    assert seqs(newest_first=True) == [made.seq, paid.seq, joined.seq]
    with pytest.raises(UnknownTypeError):
        store.events.timeline(type="payment_procesed")


@pytest.mark.parametrize("newest_first", [False, True])
def test_timeline_pages_through_ties_in_order(
    store: Store, creator: str, newest_first: bool
) -> None:
    # Seven events in the same millisecond and two later: order is (timestamp, seq).
    same = store.events.append_many(
        [NewEvent(type="user_engaged", actor_id=creator, timestamp=T0) for _ in range(7)]
    )
    later = store.events.append_many(
        [
            NewEvent(type="user_engaged", actor_id=creator, timestamp=T0 + timedelta(seconds=1))
            for _ in range(2)
        ]
    )
    expected = [e.seq for e in same + later]
    if newest_first:
        expected.reverse()
    got, cursor = [], None
    while True:
        page = store.events.timeline(
            actor_id=creator, limit=4, cursor=cursor, newest_first=newest_first
        )
        got += [e.seq for e in page.items]
        if (cursor := page.next_cursor) is None:
            break
    assert got == expected


def test_events_are_append_only_in_the_database_itself(store: Store, creator: str) -> None:
    e = store.events.append("user_joined", creator, metadata={"via": "ad"})
    engine = store._scope.db.engine
    for sql in ("UPDATE events SET type = 'user_engaged'", "DELETE FROM events"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(sql))
    assert store.events.get(e.seq) == e


def test_usable_from_async_code(store: Store, creator: str) -> None:
    async def main() -> list[int]:
        events = await asyncio.gather(
            *(
                store.call(store.events.append, "user_engaged", creator, run_id="async")
                for _ in range(5)
            )
        )
        return sorted(e.run_position or 0 for e in events)

    assert asyncio.run(main()) == [0, 1, 2, 3, 4]


def test_a_cursor_belongs_to_its_sort_order(store: Store, creator: str) -> None:
    store.events.append_many([NewEvent(type="user_engaged", actor_id=creator)] * 3)
    newest = store.events.timeline(limit=1, newest_first=True)
    assert newest.next_cursor is not None
    with pytest.raises(InvalidInputError, match="other sort order"):
        store.events.timeline(limit=1, cursor=newest.next_cursor)
    with pytest.raises(InvalidInputError, match="not a cursor"):
        store.events.timeline(cursor="a:12:not-a-number")


def test_runs_ending_with_finds_the_runs_whose_latest_ending_is_one_of_some_types(
    store: Store, creator: str
) -> None:
    """With a run's start and endings as `among`, and its start (or a resumption) as
    `types`: the runs left unfinished, whatever other events they hold, in one query."""
    starts_and_ends = ["run_accepted", "run_completed", "run_failed", "run_resumed"]

    def run(*kinds: str) -> str:
        run_id = str(uuid.uuid4())
        for kind in kinds:
            store.events.append(kind, creator, run_id=run_id)
        return run_id

    never_ended = run("run_accepted", "node_started")
    completed = run("run_accepted", "node_started", "node_completed", "run_completed")
    failed = run("run_accepted", "run_failed")
    resumed = run("run_accepted", "run_failed", "run_resumed", "node_started")
    failed_again = run("run_accepted", "run_failed", "run_resumed", "run_failed")
    store.events.append("user_joined", creator, creator)  # no run at all
    unfinished = ["run_accepted", "run_resumed"]
    assert store.events.runs_ending_with(unfinished, among=starts_and_ends) == [
        never_ended,
        resumed,
    ]
    with_failed = store.events.runs_ending_with([*unfinished, "run_failed"], among=starts_and_ends)
    assert with_failed == [never_ended, failed, resumed, failed_again]
    assert completed not in with_failed
    with pytest.raises(UnknownTypeError):
        store.events.runs_ending_with(["run_begun"], among=starts_and_ends)
