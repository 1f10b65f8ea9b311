"""Daily budgets: refused before the model, reconciled after, safe under concurrency."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from agents import Budget, Model, ScriptedChatModel
from agents.errors import BudgetExceededError


class HeldScript(ScriptedChatModel):
    """Replies only once `release` is set, counting the calls that reach it."""

    def _reply(self, messages, kwargs):
        with _lock:
            arrived.append(1)
        release.wait(timeout=30)
        with _lock:
            return super()._reply(messages, kwargs)


_lock = threading.Lock()
arrived: list[int] = []
release = threading.Event()
NOON = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def test_a_call_that_would_exceed_the_budget_never_reaches_the_model() -> None:
    fake = ScriptedChatModel(replies=["one two three", "hello"])
    budget = Budget(50, clock=lambda: NOON)
    model = Model(fake, name="scripted", budget=budget, max_tokens=40)
    model.invoke("hi", creator_id="maya")  # reserves 40 + prompt, settles to what it used
    assert budget.spent("maya") == 1 + 3
    with pytest.raises(BudgetExceededError) as info:
        model.invoke("a much longer question " * 10, creator_id="maya")
    message = str(info.value)
    assert "'maya'" in message and "daily tokens budget of 50" in message
    assert "resets at 2026-11-23T00:00:00+00:00" in message
    assert len(fake.calls) == 1
    assert budget.spent("maya") == 4  # the refused call holds nothing
    model.invoke("hi", creator_id="sam")  # another creator, another budget
    assert (budget.spent("sam"), budget.spent("maya")) == (2, 4)


def test_a_failed_call_gives_its_reservation_back() -> None:
    fake = ScriptedChatModel(replies=[ValueError("not a provider error")])
    budget = Budget(1000)
    with pytest.raises(ValueError, match="not a provider error"):
        Model(fake, name="s", budget=budget).invoke("hi", creator_id="maya")
    assert budget.spent("maya") == 0


def test_dollar_budgets_use_the_price_table() -> None:
    fake = ScriptedChatModel(replies=["ok"])
    budget = Budget(0.01, unit="usd")
    Model(fake, name="gpt-4o-mini", budget=budget, max_tokens=100).invoke("hi", creator_id="m")
    assert budget.spent("m") == pytest.approx((1 * 0.15 + 1 * 0.60) / 1e6)


def test_fifty_concurrent_calls_against_room_for_ten_make_at_most_ten_calls() -> None:
    fake = HeldScript(replies=["fine"] * 50)
    model = Model(fake, name="scripted", max_tokens=96, budget=Budget(10 * 100))
    # Each call reserves 96 output tokens and 4 for the prompt "go": exactly 10 fit. No
    # call finishes (and gives back what it did not use) until all 50 have asked.
    refused: list[int] = []

    def call(_: int) -> str:
        try:
            return model.invoke("go", creator_id="maya").text
        except BudgetExceededError:
            with _lock:
                refused.append(1)
            return "refused"

    arrived.clear()
    release.clear()
    with ThreadPoolExecutor(50) as pool:
        jobs = [pool.submit(call, n) for n in range(50)]
        while len(arrived) + len(refused) < 50 and not any(
            j.done() and j.exception() for j in jobs
        ):
            time.sleep(0.01)
        release.set()
        outcomes = [job.result() for job in jobs]
    assert (outcomes.count("fine"), outcomes.count("refused")) == (10, 40)
    assert len(fake.calls) == 10


def test_retried_parse_failures_are_charged_too() -> None:
    from pydantic import BaseModel

    class Plan(BaseModel):
        goals: list[str]

    fake = ScriptedChatModel(replies=["not json " * 10, "still not json " * 10, Plan(goals=["x"])])
    budget = Budget(10_000)
    reply = Model(fake, name="s", budget=budget).invoke("plan", output=Plan, creator_id="m")
    assert reply.parsed == Plan(goals=["x"]) and reply.usage.attempts == 3
    assert reply.usage.output_tokens == 20 + 30 + 2  # every answered attempt counts
    assert budget.spent("m") == reply.usage.total_tokens


def test_a_stream_is_charged_for_what_it_produced_even_when_abandoned() -> None:
    fake = ScriptedChatModel(replies=["a b c d e f g h i j"])
    budget = Budget(10_000)
    model = Model(fake, name="s", budget=budget, max_tokens=100)
    stream = model.stream("go", creator_id="m")
    assert budget.spent("m") == 0  # nothing is held until the stream is read
    pieces = iter(stream)
    taken = [next(pieces) for _ in range(3)]
    pieces.close()  # the reader went away (a fan closed the chat)
    assert taken == ["a ", "b ", "c "]
    assert budget.spent("m") == 4 + 3  # the prompt estimate and the three pieces read
    from agents.errors import AgentsError

    with pytest.raises(AgentsError, match="read once"):
        list(stream)


def test_a_dollar_budget_needs_a_price_for_the_model() -> None:
    from agents.errors import ConfigurationError

    model = Model(
        ScriptedChatModel(replies=["x"]), name="gpt-4o-2024-08-06", budget=Budget(0.01, unit="usd")
    )
    with pytest.raises(ConfigurationError, match="needs a price.*gpt-4o-2024-08-06"):
        model.invoke("hi", creator_id="m")
    assert model.chat.calls == []  # type: ignore[attr-defined]
