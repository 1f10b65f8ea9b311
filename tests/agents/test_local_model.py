"""The default with no key: the real SmolLM2-135M, served by ONE on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel

from agents import (
    Clone,
    LocalServer,
    Model,
    ModelSettings,
    allow_model_requests,
    build_clone,
    fan,
    run_agent,
    shared_server,
)
from agents._builtin_agents import FinanceReport
from agents.errors import ConfigurationError
from agents.providers import SimulatedAppearance, SimulatedVoice
from tests.agents.conftest import World

pytestmark = pytest.mark.slow


class Person(BaseModel):
    name: str
    age: int


@pytest.fixture(scope="module")
def local() -> Iterator[Model]:
    with allow_model_requests():
        yield Model.from_settings(
            ModelSettings(temperature=0, max_tokens=48, api_key=None, base_url=None)
        )


def test_a_chat_reply_from_the_real_local_model(local: Model) -> None:
    # Not compared across calls: llama-cpp-python reuses a cached prompt prefix, and a
    # prompt evaluated warm can differ from its cold run even at temperature 0.
    with allow_model_requests():
        reply = local.invoke("Say hello to a fan called Sam.")
    assert "sam" in reply.text.lower()
    assert reply.usage.model == "SmolLM2-135M-Instruct" and reply.usage.cost_usd == 0.0
    assert 0 < reply.usage.output_tokens <= 48 and not reply.usage.estimated


def test_structured_output_from_the_real_local_model(local: Model) -> None:
    with allow_model_requests():
        reply = local.invoke("Ada is 36 years old. Extract the person.", output=Person)
    assert reply.parsed == Person(name="Ada", age=36)


def test_the_token_limit_holds_on_the_local_server(local: Model) -> None:
    with allow_model_requests():
        reply = local.invoke("Count from 1 to 500, one number per line.", max_tokens=20)
        stream = local.stream("Count from 1 to 500, one number per line.", max_tokens=12)
        pieces = list(stream)
    assert reply.usage.output_tokens <= 20
    assert len(pieces) <= 12 and stream.reply is not None


def test_one_server_is_shared_and_health_checked() -> None:
    server = shared_server()
    assert server is shared_server() and server.healthy()
    assert server.base_url.startswith("http://127.0.0.1:")


def test_a_missing_model_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="no model file"):
        LocalServer(tmp_path / "missing.gguf").start()


def test_a_request_during_a_stream_does_not_cut_it_short(local: Model) -> None:
    import threading

    server = shared_server()
    with allow_model_requests():
        story = "Write a long story about a lighthouse keeper and a storm."  # > 60 tokens
        pieces = iter(local.stream(story, max_tokens=60))
        first = next(pieces)
        checker = threading.Thread(target=server.healthy)  # another request meanwhile
        checker.start()
        rest = list(pieces)
        checker.join()
    assert len([first, *rest]) == 60  # llama-cpp-python would end it early by default


def test_an_agent_runs_on_the_real_local_model(local: Model, world: World) -> None:
    with allow_model_requests():
        run = run_agent("finance_agent", world.ctx(), local, key="local-finance")
    assert isinstance(run.output, FinanceReport)
    assert run.output.net_usd == 0.0  # a quiet day: no payments recorded, whatever it wrote
    assert run.event.type == "agent_completed" and run.usage is not None
    assert run.usage.model == "SmolLM2-135M-Instruct" and run.usage.output_tokens > 0
    assert run.entity.properties["reportType"] == "daily_finance"


def test_the_clone_builds_and_chats_on_the_real_local_model(world: World) -> None:
    with allow_model_requests():
        model = Model.from_settings(ModelSettings(temperature=0, api_key=None, base_url=None))
        built = build_clone(
            world.store,
            world.knowledge,
            model,
            world.creator_id,
            voice=SimulatedVoice(),
            appearance=SimulatedAppearance(),
        )
        clone = Clone.of(world.store, world.knowledge, model, world.creator_id, max_tokens=60)
        sam = fan(world.store, world.creator_id, "sam")
        reply = clone.reply(sam.id, "How long should sourdough rest in the fridge?")
        stream = clone.stream(sam.id, "What knife grip do you teach?")
        pieces = list(stream)
    assert built.clone.status == "active" and built.personality.traits
    assert reply.text and reply.sources and reply.usage is not None
    assert 0 < reply.usage.output_tokens <= 60
    assert stream.reply is not None and stream.reply.text == "".join(pieces).strip()
    interactions = world.store.events.timeline(actor_id=sam.id, type="clone_interaction").items
    assert [e.metadata["response"] for e in interactions] == [reply.text, stream.reply.text]
