"""Benchmarks of the ontology's event log on SQLite: single appends, batched appends, queries,
and the per-call cost of the store calls a chat turn makes.

Every benchmark writes to a fresh SQLite database in a temporary directory, removed
afterwards, and goes through the public `Store` API only.
"""

from __future__ import annotations

import random
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

from bench._report import (
    Figure,
    latency_figures,
    percentile,
    progress,
    query_figures,
    report,
    timed,
)
from ontology import NewEvent, Store

SEED = 1_000_003
START = datetime(2025, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=30)
DAY = timedelta(days=1)
RUN_LENGTH = 50
ACTORS = 1_000
WARMUP_QUERIES = 10
BATCHED_SIZE = 1_000
BUILD_SIZE = 5_000
BUILD_BATCHES_PER_TRANSACTION = 20
BATCHED_GOAL = 20_000.0
QUERY_GOAL_MS = 10.0

# Built-in event types whose metadata is any JSON object.
EVENT_TYPES = (
    "user_joined",
    "user_engaged",
    "comment_posted",
    "ugc_created",
    "content_uploaded",
    "content_generated",
    "insight_generated",
    "prediction_made",
    "report_generated",
    "optimization_applied",
    "course_enrolled",
    "lesson_completed",
    "course_completed",
    "certificate_earned",
    "achievement_unlocked",
    "level_up",
    "viral_share",
    "referral_made",
    "revenue_generated",
    "cost_incurred",
)
ACTOR_TYPES = ("audience_member", "creator", "ai_clone", "marketing_agent", "intelligence_agent")


@dataclass(frozen=True)
class Scale:
    single_appends: int
    batched_events: int
    log_events: int
    queries: int


FULL = Scale(single_appends=5_000, batched_events=200_000, log_events=1_000_000, queries=500)
QUICK = Scale(single_appends=500, batched_events=10_000, log_events=50_000, queries=300)


# --- helpers ----------------------------------------------------------------------------


@contextmanager
def temp_store() -> Iterator[Store]:
    """A store on a fresh SQLite file in a temporary directory, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="one-bench-") as tmp:
        store = Store.open(f"sqlite:///{Path(tmp) / 'bench.db'}")
        try:
            yield store
        finally:
            store.close()


def create_actors(store: Store, count: int) -> list[str]:
    with store.transaction() as tx:
        return [
            tx.entities.create(ACTOR_TYPES[i % len(ACTOR_TYPES)], f"actor {i}").id
            for i in range(count)
        ]


def run_id(number: int) -> str:
    return f"run-{number:07d}"


def new_event(
    actors: Sequence[str], index: int, run: int, when: datetime | None, rng: random.Random
) -> NewEvent:
    return NewEvent(
        type=rng.choice(EVENT_TYPES),
        actor_id=rng.choice(actors),
        target_id=rng.choice(actors) if rng.random() < 0.5 else None,
        metadata={"source": "bench", "n": index},
        run_id=run_id(run),
        timestamp=when,
    )


def event_batches(
    actors: Sequence[str], total: int, size: int, rng: random.Random
) -> Iterator[list[NewEvent]]:
    """`total` events in time order over `SPAN`, in batches of `size` holding whole runs.

    A batch's runs (of `RUN_LENGTH` events each) are interleaved, as concurrent runs are.
    """
    for first in range(0, total, size):
        count = min(size, total - first)
        runs = max(1, count // RUN_LENGTH)
        batch = []
        for i in range(first, first + count):
            when = START + SPAN * ((i + rng.random()) / total)
            batch.append(new_event(actors, i, first // RUN_LENGTH + (i - first) % runs, when, rng))
        yield batch


# --- 1. single appends ------------------------------------------------------------------


def single_appends(quick: bool) -> dict[str, Any]:
    """`events.append` one event per call, each its own transaction."""
    count = (QUICK if quick else FULL).single_appends
    rng = random.Random(SEED)
    with temp_store() as store:
        actors = create_actors(store, ACTORS)
        events = [new_event(actors, i, i // RUN_LENGTH, None, rng) for i in range(count)]

        def append(e: NewEvent) -> None:
            store.events.append(e.type, e.actor_id, e.target_id, e.metadata, run_id=e.run_id)

        warmup = [new_event(actors, i, count + i, None, rng) for i in range(WARMUP_QUERIES)]
        timed(append, warmup)
        seconds = timed(append, events)
    return report(
        f"Single appends: {count:,} events, one transaction each",
        [
            Figure("events_per_s", "throughput", count / sum(seconds), "events/s"),
            *latency_figures("append", "latency per append", seconds, 99),
        ],
    )


# --- 2. batched appends -----------------------------------------------------------------


def batched_appends(quick: bool) -> dict[str, Any]:
    """`events.append_many` in batches of `BATCHED_SIZE`; only the calls are timed."""
    total = (QUICK if quick else FULL).batched_events
    rng = random.Random(SEED)
    with temp_store() as store:
        actors = create_actors(store, ACTORS)
        seconds = timed(store.events.append_many, event_batches(actors, total, BATCHED_SIZE, rng))
    rate = total / sum(seconds)
    return report(
        f"Batched appends: {total:,} events, append_many of {BATCHED_SIZE:,}",
        [
            Figure(
                "events_per_s",
                "throughput",
                rate,
                "events/s",
                goal=f">= {BATCHED_GOAL:,.0f} events/s",
                met=rate >= BATCHED_GOAL,
            ),
            *latency_figures("batch", "latency per batch", seconds, 99),
        ],
    )


# --- 3. timeline queries ----------------------------------------------------------------


def build_log(store: Store, actors: Sequence[str], total: int, rng: random.Random) -> float:
    """Append `total` events in batches of `BUILD_SIZE`, several per transaction; seconds."""
    started = time.perf_counter()
    batches = event_batches(actors, total, BUILD_SIZE, rng)
    done = 0
    while group := list(islice(batches, BUILD_BATCHES_PER_TRANSACTION)):
        with store.transaction() as tx:
            for batch in group:
                tx.events.append_many(batch)
        done += sum(len(batch) for batch in group)
        elapsed = time.perf_counter() - started
        progress.print(f"  log: {done:,}/{total:,} events, {done / elapsed:,.0f} events/s")
    return time.perf_counter() - started


def timeline_queries(quick: bool) -> dict[str, Any]:
    """Timeline and run queries over a log of `log_events` events."""
    scale = QUICK if quick else FULL
    rng = random.Random(SEED)
    with temp_store() as store:
        actors = create_actors(store, ACTORS)
        build_s = build_log(store, actors, scale.log_events, rng)
        figures = [
            Figure("build_s", "log build time", build_s, "s"),
            Figure("build_events_per_s", "log build rate", scale.log_events / build_s, "events/s"),
            *query_set(store, actors, scale, random.Random(SEED)),
        ]
    return report(
        f"Timeline queries: {scale.log_events:,} events, {scale.queries} queries each", figures
    )


def query_set(
    store: Store, actors: Sequence[str], scale: Scale, rng: random.Random
) -> list[Figure]:
    n, events = scale.queries + WARMUP_QUERIES, store.events
    by_actor = [rng.choice(actors) for _ in range(n)]
    runs = [run_id(rng.randrange(scale.log_events // RUN_LENGTH)) for _ in range(n)]
    days = [(rng.choice(EVENT_TYPES), START + DAY * rng.randrange(SPAN.days)) for _ in range(n)]
    goal: dict[str, Any] = {"goal_ms": QUERY_GOAL_MS, "warmup": WARMUP_QUERIES}
    return [
        *query_figures(
            "actor",
            "timeline by actor",
            lambda a: events.timeline(actor_id=a, limit=100, newest_first=True).items,
            by_actor,
            **goal,
        ),
        *query_figures("read_run", "read_run(run_id)", events.read_run, runs, **goal),
        *query_figures(
            "run_timeline",
            "timeline(run_id=)",
            lambda r: events.timeline(run_id=r).items,
            runs,
            **goal,
        ),
        *query_figures(
            "type_day",
            "timeline by type + 1 day",
            lambda d: events.timeline(type=d[0], since=d[1], until=d[1] + DAY, limit=100).items,
            days,
            **goal,
        ),
    ]


# --- 4. hot paths -----------------------------------------------------------------------

HOT_BATCH = 7
HOT_RUN = 10


def hot_paths(quick: bool) -> dict[str, Any]:
    """The per-call latency of the calls a chat turn makes, on a nearly empty SQLite file:
    each call is its own transaction (the last figure: two calls in one); the figures are
    noisy on a shared machine, so compare medians of several runs."""
    calls = 300 if quick else 2_000
    with temp_store() as store:
        actor, target = create_actors(store, 2)
        events = store.events
        keys = [f"hot-{i}" for i in range(calls + WARMUP_QUERIES)]
        runs = [f"hot-run-{i // HOT_RUN}" for i in range(len(keys))]

        def append(i: int) -> None:
            events.append(
                "user_engaged", actor, target, {"n": i}, run_id=runs[i], idempotency_key=keys[i]
            )

        def append_many(i: int) -> None:
            events.append_many(
                [
                    NewEvent(
                        type="user_engaged",
                        actor_id=actor,
                        target_id=target if j % 2 else None,
                        metadata={"n": i, "j": j},
                        run_id=f"hot-batch-{i}",
                        idempotency_key=f"hot-batch-{i}-{j}",
                    )
                    for j in range(HOT_BATCH)
                ]
            )

        def turn(i: int) -> None:
            with store.transaction() as tx:
                tx.entities.patch(actor, {"turns": i})
                tx.events.append("user_engaged", actor, target, {"n": i}, run_id=f"hot-tx-{i}")

        def measure(key: str, label: str, call: Callable[[int], object]) -> list[Figure]:
            timed(call, range(WARMUP_QUERIES))
            seconds = timed(call, range(WARMUP_QUERIES, WARMUP_QUERIES + calls))
            return [
                Figure(f"{key}_p{pct}_us", f"{label} p{pct}", percentile(seconds, pct) * 1e6, "µs")
                for pct in (50, 95)
            ]

        figures = [
            *measure("append", "append (run id + key)", append),
            *measure("append_many", f"append_many of {HOT_BATCH}", append_many),
            *measure("append_again", "append of a stored key", append),
            *measure("get", "entities.get", lambda _: store.entities.get(actor)),
            *measure("entity_find", "entities.find", lambda _: store.entities.find(actor)),
            *measure("find", "events.find", lambda i: events.find(keys[i])),
            *measure("read_run", f"read_run of {HOT_RUN}", lambda i: events.read_run(runs[i])),
            *measure(
                "patch", "entities.patch", lambda i: store.entities.patch(actor, {"turns": i})
            ),
            *measure("transaction", "transaction: patch + append", turn),
        ]
    return report(f"Hot paths: {calls:,} calls each, one transaction per call", figures)


BENCHMARKS: dict[str, Callable[[bool], dict[str, Any]]] = {
    "single_appends": single_appends,
    "batched_appends": batched_appends,
    "timeline_queries": timeline_queries,
    "hot_paths": hot_paths,
}
