"""Benchmarks of ONE as a whole, on SQLite in a temporary directory and fakes.

1. Scheduler tick: one `Scheduler.tick` over 10,000 schedules, most not due and some due,
   with `enqueue` a list's append (the due runs are claimed, not run): what a tick costs a
   scheduler that hands its runs to workers.
2. Clone chat over HTTP: `POST /v1/chat/completions` (not streamed) against ONE's server
   (uvicorn on loopback, in a thread), with a model that answers at once and a knowledge
   base of 100,000 chunks (the fake embedder): per-turn latency, all of it ONE's (the
   server, retrieval, the chat graph with its checkpoints and events); then 100 chats at
   once, from 100 fans, against the single-chat figure.
"""

from __future__ import annotations

import random
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from agents import Model, ScriptedChatModel
from agents.providers import Providers
from bench._report import Figure, latency_figures, percentile, progress, report
from knowledge import FakeEmbedder
from one import _keys
from one._app import One
from one._schedules import Scheduler, Schedules
from one._server import create_app, model_id
from one._settings import Settings
from ontology import Entity
from tests.one.conftest import brain_model  # a model that also builds the clone

TICK_GOAL_MS = 200.0
TURN_GOAL_MS = 25.0
CONCURRENCY_GOAL = 2.0
SEED = 7
SAMPLE = Path(__file__).parents[1] / "one" / "_samples" / "maya"


@dataclass(frozen=True)
class Scale:
    schedules: int
    due: int
    ticks: int
    chunks: int
    turns: int
    chats: int


FULL = Scale(schedules=10_000, due=100, ticks=10, chunks=100_000, turns=100, chats=100)
QUICK = Scale(schedules=1_000, due=10, ticks=3, chunks=2_000, turns=40, chats=10)


def _one(data_dir: Path, model: Model | None = None) -> One:
    return One(
        Settings(data_dir=data_dir),
        model=model or Model(ScriptedChatModel(replies=["ok"]), name="scripted"),
        embedder=FakeEmbedder(),
        providers=Providers.simulated(),
    )


# -- 1. the scheduler's tick ------------------------------------------------------------

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def scheduler_tick(quick: bool) -> dict[str, Any]:
    scale = QUICK if quick else FULL
    few = max(1, scale.due // 10)
    with tempfile.TemporaryDirectory(prefix="one-bench-") as tmp, _one(Path(tmp)) as one:
        progress.print(f"scheduler: adding {scale.schedules:,} schedules")
        _add_schedules(one, scale.schedules, few, scale.due)
        queued: list[str] = []
        scheduler = Scheduler(one, enqueue=queued.append)
        one.runs.compiled("agent_run")  # opened once per process, not per tick
        # Ticks in the hour before NOW: nothing due, a scheduler's steady state.
        idle = [
            _timed_ms(lambda n=n: scheduler.tick(NOW - timedelta(minutes=n)))
            for n in range(scale.ticks, 0, -1)
        ]
        at_few = _timed_ms(lambda: scheduler.tick(NOW))
        at_many = _timed_ms(lambda: scheduler.tick(NOW + timedelta(hours=1)))
        if len(queued) != few + scale.due:
            raise AssertionError(f"the ticks claimed {len(queued)} runs, not {few + scale.due}")
        n = f"{scale.schedules:,}"
        figures = [
            _tick_figure(
                "tick_idle_ms", f"tick, none of {n} due (median)", statistics.median(idle)
            ),
            _tick_figure("tick_few_due_ms", f"tick, {few} of {n} due (claimed)", at_few),
            _tick_figure("tick_many_due_ms", f"tick, {scale.due} of {n} due (claimed)", at_many),
            Figure(
                "claim_ms", "cost per claimed slot", (at_many - at_few) / (scale.due - few), "ms"
            ),
        ]
    return report("Scheduler: one tick (enqueue: a list's append)", figures)


def _tick_figure(key: str, label: str, ms: float) -> Figure:
    return Figure(key, label, ms, "ms", f"<= {TICK_GOAL_MS:.0f} ms", ms <= TICK_GOAL_MS)


def _add_schedules(one: One, count: int, few: int, many: int) -> None:
    """`count` hourly schedules of ten creators: `few` due at NOW, `many` at NOW + 1 h
    (the `few` among them), the others later in the day. One is added by
    `Schedules.add`; the rest are written in one transaction, to be quick."""
    creators = [one.add_creator(f"Creator {n}").id for n in range(10)]
    Schedules(one.store).add(
        creators[0], "agent", "strategy_agent", "0 * * * *", now=NOW - timedelta(minutes=1)
    )
    with one.store.transaction() as tx:
        for n in range(1, count):
            creator = creators[n % len(creators)]
            hours = 0 if n < few else 1 if n < many else 2 + n % 10
            properties = {
                "creatorId": creator,
                "target": "agent",
                "name": "strategy_agent",
                "cron": "0 * * * *",
                "timezone": "UTC",
                "enabled": True,
                "nextRun": int((NOW + timedelta(hours=hours)).timestamp() * 1000),
            }
            made = tx.entities.create("schedule", f"schedule {n}", properties)
            tx.connections.connect(creator, made.id, "owns")


# -- 2. clone chat over HTTP ------------------------------------------------------------

WORDS = [
    "salt",
    "pasta",
    "water",
    "knife",
    "onion",
    "garlic",
    "butter",
    "sauce",
    "simmer",
    "boil",
    "roast",
    "bake",
    "fold",
    "whisk",
    "dough",
    "basil",
    "tomato",
    "lemon",
    "pepper",
    "olive",
    "stock",
    "rice",
    "bean",
    "flour",
    "yeast",
    "crust",
    "grill",
    "pan",
]
QUESTIONS = [
    "How salty should pasta water be?",
    "What knife do you use for onions?",
    "How long do I simmer a tomato sauce?",
    "Can I bake bread without yeast?",
]


def chat_over_http(quick: bool) -> dict[str, Any]:
    scale = QUICK if quick else FULL
    data = Path(tempfile.gettempdir()) / f"one-bench-chat-{scale.chunks}"
    with _chat_one(data, scale.chunks) as (one, creator), _serving(one) as url:
        secret = _keys.create(one.store, creator.id)[1]
        model = model_id(creator)

        def turn(fan: str, question: str) -> float:
            headers = {"Authorization": f"Bearer {secret}"}
            with httpx.Client(base_url=url, headers=headers, timeout=900) as c:
                return _turn(c, model, fan, question)

        for n in range(10):  # warm up: the graph compiled, the collection open
            turn(f"warm-{n}", QUESTIONS[n % len(QUESTIONS)])
        single = [turn(f"fan-{n % 20}", QUESTIONS[n % len(QUESTIONS)]) for n in range(scale.turns)]
        with ThreadPoolExecutor(scale.chats) as pool:
            jobs = [
                pool.submit(turn, f"crowd-{n % scale.chats}", QUESTIONS[n % len(QUESTIONS)])
                for n in range(scale.chats * 2)
            ]
            crowd = [job.result() for job in jobs]
    p95, crowd_p95 = percentile(single, 95), percentile(crowd, 95)
    ratio = crowd_p95 / p95
    figures = [
        *latency_figures("turn", "one chat, per turn", single, 95, TURN_GOAL_MS),
        Figure("turn_mean_ms", "one chat, per turn mean", statistics.fmean(single) * 1000, "ms"),
        *latency_figures("crowd", f"{scale.chats} chats at once, per turn", crowd, 95),
        Figure(
            "crowd_ratio",
            f"p95 with {scale.chats} at once / p95 alone",
            ratio,
            "x",
            f"<= {CONCURRENCY_GOAL:g}x",
            ratio <= CONCURRENCY_GOAL,
        ),
        Figure(
            "crowd_mean_ratio",
            f"mean with {scale.chats} at once / mean alone",
            statistics.fmean(crowd) / statistics.fmean(single),
            "x",
        ),
    ]
    return report(f"Clone chat over HTTP, {scale.chunks:,} chunks, instant model", figures)


def _turn(client: httpx.Client, model: str, fan: str, question: str) -> float:
    body = {"model": model, "user": fan, "messages": [{"role": "user", "content": question}]}
    started = time.perf_counter()
    response = client.post("/v1/chat/completions", json=body)
    seconds = time.perf_counter() - started
    if response.is_error:
        raise RuntimeError(f"{response.status_code}: {response.text[:500]}")
    if not response.json()["choices"][0]["message"]["content"]:
        raise AssertionError(f"an empty answer: {response.text}")
    return seconds


@contextmanager
def _chat_one(data: Path, chunks: int) -> Iterator[tuple[One, Entity]]:
    """ONE with a creator of `chunks` chunks and a clone, on `data` (kept between runs of
    the benchmark: ingesting 100,000 chunks takes minutes; delete it to start again)."""
    with _one(data, brain_model()) as one:
        creator = one.add_creator("Maya Lin")
        one.ingest(creator.id, SAMPLE / "content")  # her videos and audio, for the clone
        have = one.knowledge.collections.get(creator.id).count()
        if have < chunks:
            progress.print(f"chat: ingesting {chunks - have:,} chunks into {data} (kept)")
            _ingest(one, creator.id, have, chunks)
        if one.build_clone(creator.id).status != "completed":
            raise AssertionError("the clone was not built")
        yield one, creator


def _ingest(one: One, creator_id: str, have: int, chunks: int) -> None:
    """Posts of ten paragraphs (ten chunks each), in batches of 100 posts."""
    rnd = random.Random(SEED)
    first, posts = have // 10, (chunks + 9) // 10

    def post(n: int) -> dict[str, str]:
        paragraphs = (" ".join(rnd.choice(WORDS) for _ in range(120)) + "." for _ in range(10))
        return {"id": f"post-{n}", "text": "\n\n".join(paragraphs)}

    for start in range(first, posts, 100):
        batch = [post(n) for n in range(start, min(posts, start + 100))]
        one.knowledge.ingest_records(creator_id, "post", batch)
        if start % 1000 == 0:
            progress.print(f"  {start * 10:,} chunks")


@contextmanager
def _serving(one: One) -> Iterator[str]:
    """ONE's server on a free loopback port, in a thread; its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(create_app(one), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join()


def _timed_ms(call: Any) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


BENCHMARKS = {"scheduler_tick": scheduler_tick, "chat_over_http": chat_over_http}
