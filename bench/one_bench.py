"""Benchmarks of ONE as a whole, on SQLite and fakes.

1. Scheduler tick: one `Scheduler.tick` over 10,000 schedules, most not due and some due,
   with `enqueue` a list's append (the due runs are claimed, not run): what a tick costs a
   scheduler that hands its runs to workers.
2. Clone chat over HTTP: `POST /v1/chat/completions` (not streamed) against ONE's server
   in a process of its own, as `one serve` runs it (uvicorn on loopback), with a model
   that answers at once and a knowledge base of 100,000 chunks (the fake embedder), so a
   turn's latency is ONE's overhead and none of it generation: the server, retrieval, the
   chat graph with its checkpoints and events. The base is kept between runs in the
   temporary directory; the chunks are ingested, the clone built and an API key made before
   the server starts. Each fan's client keeps its connection between turns, as a chat app
   or an OpenAI client does (uvicorn closes one idle for 5 s: a fan who thought longer
   connects again), and only the request is timed.
   - One chat: 40 fans taking 500 turns one at a time, after a warm-up (a process's first
     turns run code for the first time): p50 and p95 per turn; the goal is p95 <= 25 ms.
     About one turn in twelve is a fan's first, as in the crowd below; and 500 turns make
     a steadier p95 than 100, whose p95 is its fifth slowest turn.
   - One chat, paused: 200 turns one at a time, each sent `PAUSE_SECONDS` after the last
     answer, figures without a goal. Turns sent back to back find the server's code and
     data still in the CPU's caches; one sent after a pause does not (on these shared
     machines it costs more CPU whether the core idled or spun meanwhile), and neither
     does a turn in the crowd below, whose fans each pause for seconds.
   - 100 chats at once: 100 conversations in progress together for 60 s, each fan sending
     its next message once it has the answer and has thought for a while (exponential,
     mean 5 s: a person reads and types for longer, and real generation would add seconds
     more), each beginning at a random moment within the first think time. p50 and p95
     per turn, and the ratio of that p95 to one chat's: the goal is <= 2x. Without a
     goal, the p95 of the turns sent once every fan had begun (after the first think
     time), and of each fan's first turn: the 100 conversations beginning within 5 s
     weigh on the whole. The rate of turns sent is reported with the rate expected (fans
     / (think + turn)), and how late the fans sent against their schedule: the client
     keeping up, not the bottleneck. Also without a goal: the server's CPU time per turn
     (all its threads, read from /proc on Linux), one chat at a time and with the 100 in
     progress; the difference is what turns sharing one interpreter (its GIL) cost.
   - A burst, figures without a goal: 100 fans each sending a turn at the same instant (a
     barrier), on connections already open: p95 per turn and the turns per second the
     server sustained. A burst is not the goal's measure: N requests that arrive together,
     each needing c ms of CPU, cannot all be answered sooner than about N * c / cores ms,
     whatever the server does (2 cores here, and a server process's Python runs on one at
     a time), so a burst's p95 measures throughput, not the overhead of a turn.
3. Clone chat over HTTP on two cores (`chat_over_http_workers`): the same, with the server
   as `one serve --workers 2` runs it, two processes on one socket, and the knowledge a
   Chroma server (`chroma run`) over the base's own folder, which several processes need.
   The warm-up goes on, each turn on a new connection, until 20 turns in a row were
   quick, so that every process has answered some. The Chroma server's CPU per turn is
   reported apart from the server's.
"""

from __future__ import annotations

import gc
import itertools
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from chromadb.api.shared_system_client import SharedSystemClient

from agents import Model, ScriptedChatModel
from agents.providers import Providers
from bench._report import Figure, latency_figures, percentile, progress, report
from knowledge import FakeEmbedder, source_entity_id
from one import _keys
from one._app import One
from one._schedules import Scheduler, Schedules
from one._server import model_id
from one._settings import Settings
from tests.one.conftest import brain_model  # a model that also builds the clone
from tests.servers import chroma, free_port, stop

TICK_GOAL_MS = 200.0
TURN_GOAL_MS = 25.0
CONCURRENCY_GOAL = 2.0
SEED = 7
ROOT = Path(__file__).parents[1]
SAMPLE = ROOT / "one" / "_samples" / "maya"
SINGLE_FANS = 40  # one chat: fans taking turns one at a time
WARMUP_TURNS = 10
WARM_TURN_SECONDS = 0.2  # a turn this quick was not building an index
WORKERS = 2  # server processes in `chat_over_http_workers`: one per core here
THINK_SECONDS = 5.0  # a fan's mean time between an answer and their next message
PAUSE_SECONDS = 0.1  # between turns of one chat, paused: each server process's gap in the crowd
PAUSED_TURNS = 200
SERVER_START_SECONDS = 120


@dataclass(frozen=True)
class Scale:
    schedules: int
    due: int
    ticks: int
    chunks: int
    turns: int  # one chat's
    chats: int  # fans in the crowd and in the burst
    crowd_seconds: float


FULL = Scale(
    schedules=10_000, due=100, ticks=10, chunks=100_000, turns=500, chats=100, crowd_seconds=60
)
QUICK = Scale(schedules=1_000, due=10, ticks=3, chunks=2_000, turns=40, chats=10, crowd_seconds=10)


def _one(data_dir: Path, model: Model | None = None, chroma_url: str | None = None) -> One:
    # The simulators' state is kept with the data, as ONE's default keeps it: in memory,
    # a clone rebuilt in a later run got the first run's voice id for other samples.
    return One(
        Settings(data_dir=data_dir, chroma_url=chroma_url),
        model=model or Model(ScriptedChatModel(replies=["ok"]), name="scripted"),
        embedder=FakeEmbedder(),
        providers=Providers.simulated(data_dir / "simulators.db"),
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
    return _chat_over_http(quick, workers=1)


def chat_over_http_workers(quick: bool) -> dict[str, Any]:
    return _chat_over_http(quick, workers=WORKERS)


def _chat_over_http(quick: bool, workers: int) -> dict[str, Any]:
    scale = QUICK if quick else FULL
    data = Path(tempfile.gettempdir()) / f"one-bench-chat-{scale.chunks}"
    with ExitStack() as stack:
        # Several processes need a Chroma server: the base's own folder, served.
        chroma_url = stack.enter_context(chroma(data / "chroma")) if workers > 1 else None
        secret, model = _prepare(data, scale.chunks, chroma_url)
        # This process's Chroma client let go with its `One`: the folder is the server's alone.
        SharedSystemClient.clear_system_cache()
        gc.collect()
        run = uuid.uuid4().hex[:8]  # this run's fans: new conversations, not a longer old one
        server = stack.enter_context(_serving(data, secret, workers, chroma_url))
        chat = _Chat(server.url, secret, model)
        _warm_up(chat, run, workers)
        chroma_pid = _chroma_pid(chroma_url)
        cpu, chroma_cpu = server.cpu_seconds(), _cpu_seconds(chroma_pid)
        single = _one_at_a_time(chat, run, scale.turns)
        cpu_single = _per_turn(cpu, server.cpu_seconds(), len(single))
        chroma_single = _per_turn(chroma_cpu, _cpu_seconds(chroma_pid), len(single))
        progress.print(f"chat: one chat, a turn {PAUSE_SECONDS:g} s after each answer")
        cpu = server.cpu_seconds()
        paused = _one_at_a_time(
            chat, f"{run}-paused", min(scale.turns, PAUSED_TURNS), PAUSE_SECONDS
        )
        cpu_paused = _per_turn(cpu, server.cpu_seconds(), len(paused))
        progress.print(f"chat: {scale.chats} chats in progress for {scale.crowd_seconds:g} s")
        cpu, chroma_cpu = server.cpu_seconds(), _cpu_seconds(chroma_pid)
        crowd = _crowd(chat, run, scale.chats, scale.crowd_seconds)
        cpu_crowd = _per_turn(cpu, server.cpu_seconds(), len(crowd.seconds))
        chroma_crowd = _per_turn(chroma_cpu, _cpu_seconds(chroma_pid), len(crowd.seconds))
        progress.print(
            f"chat: {len(crowd.seconds)} turns; {crowd.rate:.2f} turns/s sent once every fan "
            f"had begun, {crowd.expected:.2f} expected (fans / (think + turn)); "
            f"sent late by {percentile(crowd.lag, 95) * 1000:.1f} ms at p95"
        )
        if crowd.behind():
            progress.print("[red]chat: the client fell behind its fans' schedule[/]")
        progress.print(f"chat: a burst of {scale.chats} turns at once")
        burst = _burst(chat, run, scale.chats)
    n = scale.chats
    ratio = percentile(crowd.seconds, 95) / percentile(single, 95)
    figures = [
        *latency_figures("turn", "one chat, per turn", single, 95, TURN_GOAL_MS),
        Figure("turn_mean_ms", "one chat, per turn mean", statistics.fmean(single) * 1000, "ms"),
        *latency_figures(
            "paused", f"one chat, {PAUSE_SECONDS * 1000:g} ms pauses, per turn", paused, 95
        ),
        *latency_figures("crowd", f"{n} chats in progress, per turn", crowd.seconds, 95),
        Figure(
            "crowd_ratio",
            f"p95 with {n} chats in progress / p95 alone",
            ratio,
            "x",
            f"<= {CONCURRENCY_GOAL:g}x",
            ratio <= CONCURRENCY_GOAL,
        ),
        Figure(
            "crowd_steady_p95_ms",
            f"{n} chats, once all had begun, per turn p95",
            percentile(crowd.steady, 95) * 1000,
            "ms",
        ),
        Figure(
            "crowd_first_p95_ms",
            f"{n} chats, each fan's first turn, p95",
            percentile(crowd.first, 95) * 1000,
            "ms",
        ),
        Figure(
            "crowd_turns",
            f"{n} chats: turns in {scale.crowd_seconds:g} s",
            len(crowd.seconds),
            "turns",
        ),
        Figure("crowd_rate", f"{n} chats: turns sent per second", crowd.rate, "turns/s"),
        Figure(
            "crowd_expected_rate",
            f"{n} chats: expected, fans / (think + turn)",
            crowd.expected,
            "turns/s",
        ),
        Figure(
            "crowd_lag_p95_ms",
            f"{n} chats: a turn sent late, p95",
            percentile(crowd.lag, 95) * 1000,
            "ms",
        ),
        *[
            Figure(key, label, ms, "ms")
            for key, label, ms in (
                ("turn_cpu_ms", "server CPU per turn, one chat", cpu_single),
                ("paused_cpu_ms", "server CPU per turn, one chat, paused", cpu_paused),
                ("crowd_cpu_ms", f"server CPU per turn, {n} chats in progress", cpu_crowd),
                ("chroma_cpu_ms", "Chroma server CPU per turn, one chat", chroma_single),
                ("chroma_crowd_cpu_ms", f"Chroma server CPU per turn, {n} chats", chroma_crowd),
            )
            if ms is not None
        ],
        *latency_figures("burst", f"burst of {n} at once, per turn", burst.seconds, 95),
        Figure("burst_throughput", f"burst of {n}: turns per second", burst.throughput, "turns/s"),
    ]
    where = (
        f"{workers} server processes, a Chroma server"
        if workers > 1
        else "server in its own process, embedded Chroma"
    )
    return report(f"Clone chat over HTTP, {scale.chunks:,} chunks, instant model, {where}", figures)


class _Chat:
    """Turns of chat with the clone `model` over HTTP, as fans' clients send them."""

    def __init__(self, url: str, secret: str, model: str) -> None:
        self.url, self.model = url, model
        self.headers = {"Authorization": f"Bearer {secret}"}

    def client(self) -> httpx.Client:
        """A fan's client; it keeps its connection between turns, as a chat app does."""
        return httpx.Client(base_url=self.url, headers=self.headers, timeout=900)

    def turn(self, client: httpx.Client, fan: str, n: int) -> float:
        """The `fan`'s `n`-th message; the seconds the request took."""
        question = QUESTIONS[n % len(QUESTIONS)]
        body = {
            "model": self.model,
            "user": fan,
            "messages": [{"role": "user", "content": question}],
        }
        started = time.perf_counter()
        try:
            response = client.post("/v1/chat/completions", json=body)
        except httpx.RemoteProtocolError:
            # The server closed the idle connection (uvicorn keeps one for 5 s) as the request
            # left: it never had it. A client sends it again on a new connection (OpenAI's does).
            response = client.post("/v1/chat/completions", json=body)
        seconds = time.perf_counter() - started
        if response.is_error:
            raise RuntimeError(f"{response.status_code}: {response.text[:500]}")
        if not response.json()["choices"][0]["message"]["content"]:
            raise AssertionError(f"an empty answer: {response.text}")
        return seconds


def _warm_up(chat: _Chat, run: str, workers: int) -> None:
    """Turns, each on a new connection, until `WARMUP_TURNS` in a row were quick: a server
    process runs code for the first time in its first turns (it builds its lexical index
    before it listens), and with several processes a new connection may go to any."""
    progress.print("chat: warming up")
    quick_in_a_row = 0
    for n in itertools.count():
        if n > WARMUP_TURNS * workers * 20:
            raise RuntimeError(f"the chat server was still slow after {n} turns of warm-up")
        with chat.client() as client:
            seconds = chat.turn(client, f"{run}-warm-{n}", 0)
        quick_in_a_row = quick_in_a_row + 1 if seconds < WARM_TURN_SECONDS else 0
        if quick_in_a_row >= WARMUP_TURNS * workers:
            return


def _one_at_a_time(chat: _Chat, run: str, turns: int, pause: float = 0.0) -> list[float]:
    """`turns` turns one at a time, from `SINGLE_FANS` fans in rotation, each sent `pause`
    seconds after the last answer; each turn's seconds."""
    with ExitStack() as stack:
        clients = [stack.enter_context(chat.client()) for _ in range(SINGLE_FANS)]
        seconds = []
        for n in range(turns):
            if pause:
                time.sleep(pause)
            fan = f"{run}-fan-{n % SINGLE_FANS}"
            seconds.append(chat.turn(clients[n % SINGLE_FANS], fan, n // SINGLE_FANS))
        return seconds


@dataclass(frozen=True)
class _Crowd:
    seconds: list[float]  # each turn's
    steady: list[float]  # those of the turns sent once every fan had begun
    first: list[float]  # those of each fan's first turn
    rate: float  # turns sent per second once every fan had begun
    expected: float  # fans / (mean think + mean turn): the rate if the client keeps up
    lag: list[float]  # how late each turn was sent against its fan's schedule, seconds

    def behind(self) -> bool:
        """Whether the client fell behind its fans' schedule (the rate is only judged on
        enough turns: a few fall short of it as often as not)."""
        slow = len(self.steady) >= 200 and self.rate < 0.9 * self.expected
        return slow or percentile(self.lag, 95) > 0.05


def _crowd(chat: _Chat, run: str, fans: int, duration: float) -> _Crowd:
    """`fans` conversations in progress at once for `duration` seconds: each fan begins at a
    random moment within the first think time, then sends its next message when it has read
    the answer and thought for a while (exponential, mean `THINK_SECONDS`)."""
    if duration <= THINK_SECONDS:
        raise ValueError(f"the crowd needs more than {THINK_SECONDS:g} s, not {duration:g}")
    # Every fan's client made before the clock starts: making one takes ~17 ms of the
    # client process's CPU (an SSL context), and 100 made as the fans began slowed the
    # client's own reading of the first answers (and so the first turns' figures).
    with ExitStack() as stack:
        clients = [stack.enter_context(chat.client()) for _ in range(fans)]
        return _crowd_on(chat, run, clients, duration)


def _crowd_on(chat: _Chat, run: str, clients: list[httpx.Client], duration: float) -> _Crowd:
    fans = len(clients)
    began = time.perf_counter() + 1.0  # every fan's thread is up by then
    end = began + duration
    turns: list[tuple[float, float, int]] = []  # (sent, seconds, the fan's turn number)
    lag: list[float] = []  # list.append is atomic: the fans share these lists
    thinks: list[float] = []

    def fan(n: int) -> None:
        rnd = random.Random(SEED * 1000 + n)
        due = began + rnd.uniform(0, THINK_SECONDS)
        turn = 0
        while due < end:
            time.sleep(max(0.0, due - time.perf_counter()))
            now = time.perf_counter()
            lag.append(now - due)
            turns.append((now, chat.turn(clients[n], f"{run}-crowd-{n}", turn), turn))
            thinks.append(rnd.expovariate(1 / THINK_SECONDS))
            due = time.perf_counter() + thinks[-1]
            turn += 1

    with ThreadPoolExecutor(fans) as pool:
        for job in [pool.submit(fan, n) for n in range(fans)]:
            job.result()
    seconds = [took for _, took, _ in turns]
    steady = [took for sent, took, _ in turns if sent >= began + THINK_SECONDS]
    return _Crowd(
        seconds=seconds,
        steady=steady,
        first=[took for _, took, turn in turns if turn == 0],
        rate=len(steady) / (duration - THINK_SECONDS),
        expected=fans / (statistics.fmean(thinks) + statistics.fmean(seconds)),
        lag=lag,
    )


@dataclass(frozen=True)
class _Burst:
    seconds: list[float]  # each turn's
    throughput: float  # turns per second, from the first sent to the last answered


def _burst(chat: _Chat, run: str, fans: int) -> _Burst:
    """One turn from each of `fans` fans, all sent at the same instant (a barrier), each on
    a connection already open."""
    barrier = threading.Barrier(fans)

    def fan(n: int) -> tuple[float, float]:
        try:
            with chat.client() as client:
                client.get("/v1/models").raise_for_status()  # the connection open
                barrier.wait(timeout=300)
                started = time.perf_counter()
                return started, started + chat.turn(client, f"{run}-burst-{n}", n)
        except BaseException:
            barrier.abort()  # the others stop waiting
            raise

    with ThreadPoolExecutor(fans) as pool:
        spans = [job.result() for job in [pool.submit(fan, n) for n in range(fans)]]
    took = max(end for _, end in spans) - min(start for start, _ in spans)
    return _Burst([end - start for start, end in spans], fans / took)


def _prepare(data: Path, chunks: int, chroma_url: str | None = None) -> tuple[str, str]:
    """ONE on `data` with a creator of `chunks` chunks and her clone; a new API key for her
    and the clone's model name. `data` is kept between runs of the benchmark (ingesting
    100,000 chunks takes many minutes; delete it to start again). ONE is closed after."""
    with _one(data, brain_model(), chroma_url) as one:
        creator = one.add_creator("Maya Lin")
        one.ingest(creator.id, SAMPLE / "content")  # her videos and audio, for the clone
        _fill(one, creator.id, chunks)
        if one.build_clone(creator.id).status != "completed":
            raise AssertionError("the clone was not built")
        return _keys.create(one.store, creator.id)[1], model_id(creator)


def _fill(one: One, creator_id: str, chunks: int) -> None:
    """Generated posts of ten paragraphs (ten chunks each), 100 at a time, until the creator
    has `chunks` chunks, her sample's among them; nothing once she has. Post n is
    `post-{n}`, its text drawn from a generator seeded by n; a number already taken (by an
    earlier run, or her sample's `post-01` to `post-12`) is skipped."""
    have = one.knowledge.count(creator_id)
    if have >= chunks:
        return
    progress.print(f"chat: ingesting {chunks - have:,} chunks into {one.settings.data_dir} (kept)")
    entities = one.store.entities
    free = (
        n
        for n in itertools.count()
        if entities.find(source_entity_id(creator_id, f"record:post:post-{n}")) is None
    )
    while have < chunks:
        batch = [_post(next(free)) for _ in range(min(100, (chunks - have + 9) // 10))]
        one.knowledge.ingest_records(creator_id, "post", batch)
        before, have = have, one.knowledge.count(creator_id)
        if have // 10_000 > before // 10_000:
            progress.print(f"  {have:,} chunks")


def _post(n: int) -> dict[str, str]:
    rnd = random.Random(f"{SEED}-post-{n}")
    paragraphs = (" ".join(rnd.choice(WORDS) for _ in range(120)) + "." for _ in range(10))
    return {"id": f"post-{n}", "text": "\n\n".join(paragraphs)}


@dataclass(frozen=True)
class _Served:
    url: str
    pid: int

    def cpu_seconds(self) -> float | None:
        """The CPU time the server has used, all its processes and threads."""
        return _cpu_seconds(self.pid)


def _cpu_seconds(pid: int | None) -> float | None:
    """The CPU time process `pid` and its descendants have used, all their threads (Linux:
    /proc; None elsewhere, or without a `pid`)."""
    stats: dict[int, tuple[int, float]] = {}  # pid: (parent, CPU seconds)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()  # after the command's name
        except OSError:
            continue  # a process that ended
        ticks = int(fields[11]) + int(fields[12])  # user, system
        stats[int(stat.parent.name)] = (int(fields[1]), ticks / os.sysconf("SC_CLK_TCK"))
    if pid not in stats:
        return None
    children: dict[int, list[int]] = {}
    for child, (parent, _) in stats.items():
        children.setdefault(parent, []).append(child)
    tree, total = [pid], 0.0
    while tree:
        pid = tree.pop()
        total += stats[pid][1]
        tree.extend(children.get(pid, []))
    return total


def _chroma_pid(url: str | None) -> int | None:
    """The pid of the Chroma server (`chroma run`) listening at `url`, if there is one."""
    if url is None:
        return None
    port = url.rsplit(":", 1)[1].encode()
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        named = any(Path(a.decode(errors="replace")).name == "chroma" for a in args[:2])
        if named and b"run" in args and port in args:
            return int(cmdline.parent.name)
    return None


def _per_turn(before: float | None, after: float | None, turns: int) -> float | None:
    """Milliseconds of the server's CPU per turn, if the CPU time could be read."""
    if before is None or after is None or not turns:
        return None
    return (after - before) / turns * 1000


@contextmanager
def _serving(
    data: Path, secret: str, workers: int = 1, chroma_url: str | None = None
) -> Iterator[_Served]:
    """ONE's server on `data` in a process of its own (`tests.one.serve_child`: uvicorn on
    a free loopback port, a model that answers at once, the fake embedder), as `one serve`
    runs it, with `workers` processes and the Chroma server at `chroma_url` if given, once
    it answers. The process is terminated on the way out; its output is shown if something
    failed."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="one-bench-server-") as tmp:
        log = Path(tmp) / "server.log"
        with log.open("ab") as out:
            env = {k: v for k, v in os.environ.items() if k != "ONE_CHROMA_URL"}
            env["ONE_DATA_DIR"] = str(data)
            if chroma_url:
                env["ONE_CHROMA_URL"] = chroma_url
            child = subprocess.Popen(
                [sys.executable, "-m", "tests.one.serve_child", str(port), str(workers)],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            _wait_for(url, secret, child, log)
            try:
                yield _Served(url, child.pid)
            except BaseException:
                progress.print(f"the chat server's output:\n{_tail(log)}")
                raise
        finally:
            stop(child, timeout=30)


def _wait_for(url: str, secret: str, child: subprocess.Popen[bytes], log: Path) -> None:
    """Until the server at `url` lists the models to `secret`'s holder; an error if its
    process ends first, answers otherwise, or takes more than `SERVER_START_SECONDS`."""
    deadline = time.monotonic() + SERVER_START_SECONDS
    headers = {"Authorization": f"Bearer {secret}"}
    with httpx.Client(base_url=url, headers=headers, timeout=5) as client:
        while True:
            if child.poll() is not None:
                raise RuntimeError(
                    f"the chat server exited (status {child.returncode}) before it answered; "
                    f"its output:\n{_tail(log)}"
                )
            try:
                response = client.get("/v1/models")
            except httpx.TransportError:
                response = None
            if response is not None:
                if response.is_error:
                    raise RuntimeError(
                        f"the chat server answered {response.status_code}: {response.text[:500]}"
                    )
                return
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"the chat server did not answer at {url} within {SERVER_START_SECONDS} s; "
                    f"its output:\n{_tail(log)}"
                )
            time.sleep(0.1)


def _tail(log: Path, chars: int = 4000) -> str:
    text = log.read_text(errors="replace") if log.exists() else ""
    return text[-chars:] or "(nothing)"


def _timed_ms(call: Any) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


BENCHMARKS = {
    "scheduler_tick": scheduler_tick,
    "chat_over_http": chat_over_http,
    "chat_over_http_workers": chat_over_http_workers,
}
