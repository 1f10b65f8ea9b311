"""The model layer against a scripted OpenAI-compatible server on loopback."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from langchain_openai import ChatOpenAI
from pydantic import BaseModel, SecretStr

from agents import Model, ModelSettings, allow_model_requests
from agents.errors import (
    AuthFailedError,
    ContextExceededError,
    NetworkError,
    OutputParseError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitedError,
    UnknownProviderError,
)
from tests.agents.fake_openai import Answer, FakeOpenAI, completion, error, fake_openai, streamed


class Person(BaseModel):
    name: str
    age: int


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with allow_model_requests(), fake_openai() as server:
        yield server


def compatible(fake: FakeOpenAI, **settings: object) -> Model:
    options = {"base_url": fake.url, "model": "fake", "timeout": 2.0, "max_attempts": 3, **settings}
    return Model.from_settings(ModelSettings(**options))  # type: ignore[arg-type]


def openai_like(fake: FakeOpenAI) -> Model:
    """The layer as it talks to OpenAI itself (json_schema, max_completion_tokens)."""
    chat = ChatOpenAI(
        model="gpt-4o-mini", base_url=fake.url, api_key=SecretStr("sk"), max_retries=0, timeout=2
    )
    return Model(chat, name="gpt-4o-mini", backend="openai", structured="json_schema")


def test_a_reply_carries_usage_and_cost(fake: FakeOpenAI) -> None:
    fake.script = [completion("Hello!", usage=(1000, 500))]
    reply = openai_like(fake).invoke("hi")
    assert reply.text == "Hello!"
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (1000, 500)
    assert reply.usage.cost_usd == pytest.approx((1000 * 0.15 + 500 * 0.60) / 1e6)
    assert reply.usage.latency_s > 0 and not reply.usage.estimated


def test_token_limits_are_sent_the_way_each_backend_honours_them(fake: FakeOpenAI) -> None:
    fake.script = [completion()]
    compatible(fake, max_tokens=77).invoke("hi")
    assert fake.requests[-1]["max_tokens"] == 77
    assert "max_completion_tokens" not in fake.requests[-1]
    openai_like(fake).invoke("hi", max_tokens=33)
    assert fake.requests[-1]["max_completion_tokens"] == 33


def test_structured_output_by_function_calling(fake: FakeOpenAI) -> None:
    fake.script = [completion(tool=("Person", {"name": "Ada", "age": 36}))]
    reply = compatible(fake).invoke("Ada is 36", output=Person)
    assert reply.parsed == Person(name="Ada", age=36)
    sent = fake.requests[-1]
    assert sent["tools"][0]["function"]["name"] == "Person"
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "Person"}}
    assert "response_format" not in sent


def test_structured_output_by_json_schema(fake: FakeOpenAI) -> None:
    fake.script = [completion('{"name": "Ada", "age": 36}')]
    assert openai_like(fake).invoke("Ada is 36", output=Person).parsed == Person(name="Ada", age=36)
    form = fake.requests[-1]["response_format"]
    assert form["type"] == "json_schema" and form["json_schema"]["strict"] is True
    assert form["json_schema"]["schema"]["required"] == ["name", "age"]


def test_a_reply_that_never_fits_the_schema_is_retried_then_refused(fake: FakeOpenAI) -> None:
    fake.script = [completion("not json at all")]
    with pytest.raises(OutputParseError, match="does not fit Person"):
        compatible(fake).invoke("?", output=Person)
    assert len(fake.requests) == 3


def test_rate_limits_are_retried_after_the_time_the_provider_asks(fake: FakeOpenAI) -> None:
    fake.script = [error(429, "slow down", retry_after="0.4"), completion("finally")]
    started = time.monotonic()
    reply = compatible(fake).invoke("hi")
    assert reply.text == "finally" and reply.usage.attempts == 2
    assert fake.requests[1]["at"] - fake.requests[0]["at"] >= 0.35
    assert time.monotonic() - started >= 0.35


def test_rate_limits_end_after_the_bounded_attempts(fake: FakeOpenAI) -> None:
    fake.script = [error(429, "slow down", retry_after_ms="10")]
    with pytest.raises(RateLimitedError) as info:
        compatible(fake).invoke("hi")
    assert info.value.retry_after == pytest.approx(0.01) and len(fake.requests) == 3


@pytest.mark.parametrize(
    ("answer", "error_type", "attempts"),
    [
        (error(401, "bad key"), AuthFailedError, 1),
        (error(403, "forbidden"), AuthFailedError, 1),
        (
            error(
                400, "This model's maximum context length is 2048 tokens", "context_length_exceeded"
            ),
            ContextExceededError,
            1,
        ),
        (error(400, "bad request"), UnknownProviderError, 1),
        (error(500, "boom"), UnknownProviderError, 3),
        (error(503, "overloaded"), UnknownProviderError, 3),
    ],
)
def test_errors_are_typed_and_retried_only_when_it_can_help(
    fake: FakeOpenAI, answer: Answer, error_type: type[ProviderError], attempts: int
) -> None:
    fake.script = [answer]
    with pytest.raises(error_type) as info:
        compatible(fake).invoke("hi")
    assert len(fake.requests) == attempts
    assert info.value.retryable == (attempts > 1)


def test_a_slow_provider_times_out_and_is_retried(fake: FakeOpenAI) -> None:
    fake.script = [Answer(body=completion("late").body, delay=1.0), completion("in time")]
    reply = compatible(fake, timeout=0.3).invoke("hi")
    assert reply.text == "in time" and len(fake.requests) == 2
    fake.script = [Answer(body=completion("late").body, delay=1.0)]
    with pytest.raises(ProviderTimeoutError):
        compatible(fake, timeout=0.3, max_attempts=2).invoke("hi")


def test_the_overall_timeout_bounds_all_attempts(fake: FakeOpenAI) -> None:
    fake.script = [error(500, "boom")]
    started = time.monotonic()
    with pytest.raises(UnknownProviderError):
        compatible(fake, max_attempts=50, total_timeout=1.5).invoke("hi")
    assert time.monotonic() - started < 15
    assert 2 <= len(fake.requests) < 50


def test_an_unreachable_server_is_a_network_error(fake: FakeOpenAI) -> None:
    from tests.servers import free_port

    model = Model.from_settings(
        ModelSettings(base_url=f"http://127.0.0.1:{free_port()}/v1", model="x", max_attempts=2)
    )
    with pytest.raises(NetworkError, match="could not be reached"):
        model.invoke("hi")


def test_streaming_yields_text_and_usage(fake: FakeOpenAI) -> None:
    fake.script = [streamed(["Hel", "lo ", "there"], usage=(5, 3))]
    stream = compatible(fake).stream("hi")
    assert list(stream) == ["Hel", "lo ", "there"]
    assert stream.reply is not None and stream.reply.text == "Hello there"
    usage = stream.reply.usage
    assert (usage.input_tokens, usage.output_tokens, usage.estimated) == (5, 3, False)
    assert usage.first_token_s is not None and usage.first_token_s <= usage.latency_s
    assert fake.requests[-1]["stream_options"] == {"include_usage": True}


def test_a_stream_without_usage_is_counted_and_cut_at_its_limit(fake: FakeOpenAI) -> None:
    fake.script = [streamed([f"w{i} " for i in range(50)], usage=None)]
    stream = compatible(fake, max_tokens=10).stream("count")
    assert len(list(stream)) == 10
    assert stream.reply is not None
    assert stream.reply.usage.output_tokens == 10 and stream.reply.usage.estimated


def test_a_stream_that_fails_to_start_is_retried(fake: FakeOpenAI) -> None:
    fake.script = [error(503, "warming up"), streamed(["ok"])]
    stream = compatible(fake).stream("hi")
    assert list(stream) == ["ok"]
    assert len(fake.requests) == 2
    assert stream.reply is not None and stream.reply.usage.attempts == 2


def test_a_stream_broken_midway_raises_the_typed_error(fake: FakeOpenAI) -> None:
    from dataclasses import replace

    fake.script = [replace(streamed(["one ", "two "], usage=None), cut=True)]
    stream = compatible(fake).stream("hi")
    seen: list[str] = []
    with pytest.raises(NetworkError):
        seen.extend(stream)
    assert seen == ["one ", "two "]  # what arrived was delivered; the rest is an error
    assert len(fake.requests) == 1  # not retried: text was already delivered


def test_a_retry_after_beyond_the_overall_timeout_ends_the_retries(fake: FakeOpenAI) -> None:
    fake.script = [error(429, "come back in a minute", retry_after="60"), completion("late")]
    started = time.monotonic()
    with pytest.raises(RateLimitedError):
        compatible(fake, total_timeout=2.0).invoke("hi")
    assert time.monotonic() - started < 2.0 and len(fake.requests) == 1


def test_a_stream_that_ends_exactly_at_its_limit_keeps_its_usage(fake: FakeOpenAI) -> None:
    fake.script = [streamed(["a ", "b ", "c"], usage=(900, 3))]
    stream = compatible(fake, max_tokens=3).stream("hi")
    assert list(stream) == ["a ", "b ", "c"]
    assert stream.reply is not None and stream.reply.usage.input_tokens == 900
    assert not stream.reply.usage.estimated
