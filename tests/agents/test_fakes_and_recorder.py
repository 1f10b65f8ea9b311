"""The scripted fake, the switch that blocks real requests, and record/replay."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_openai import ChatOpenAI
from pydantic import BaseModel, SecretStr

from agents import Model, RecordingChatModel, ScriptedChatModel
from agents.errors import ModelRequestBlockedError, RecordingMissingError, UnknownProviderError
from tests.agents.fake_openai import completion, fake_openai


class Plan(BaseModel):
    goals: list[str]


def scripted(*replies: object) -> Model:
    return Model(ScriptedChatModel(replies=list(replies)), name="scripted")


def test_the_scripted_model_replies_in_order_with_usage() -> None:
    model = scripted("First.", Plan(goals=["grow"]), "one two three")
    assert model.invoke("a").text == "First."
    assert model.invoke("b", output=Plan).parsed == Plan(goals=["grow"])
    stream = model.stream("c")
    assert "".join(stream) == "one two three"
    assert stream.reply is not None and stream.reply.usage.output_tokens == 3
    fake = model.chat
    assert isinstance(fake, ScriptedChatModel)
    assert [c["messages"][0].content for c in fake.calls] == ["a", "b", "c"]
    with pytest.raises(AssertionError, match="ran out of replies after 3 calls"):
        model.invoke("d")


def test_the_scripted_model_keeps_no_calls_when_told_not_to_record() -> None:
    fake = ScriptedChatModel(replies=["First.", "Second."], record=False)
    model = Model(fake, name="scripted")
    assert [model.invoke(m).text for m in ("a", "b")] == ["First.", "Second."]
    assert fake.calls == [] and fake.answered == 2
    with pytest.raises(AssertionError, match="ran out of replies after 2 calls"):
        model.invoke("c")


def test_scripted_errors_go_through_the_retry_policy() -> None:
    model = scripted(UnknownProviderError("boom", retryable=True), "recovered")
    reply = model.invoke("x")
    assert reply.text == "recovered" and reply.usage.attempts == 2


def test_real_requests_are_blocked_in_tests() -> None:
    with fake_openai() as server:
        server.script = [completion("should never be sent")]
        chat = ChatOpenAI(model="m", base_url=server.url, api_key=SecretStr("k"), max_retries=0)
        model = Model(chat, name="m")
        with pytest.raises(ModelRequestBlockedError, match="allow_model_requests"):
            model.invoke("hi")
        with pytest.raises(ModelRequestBlockedError):
            list(model.stream("hi"))
        assert server.requests == []


def test_record_then_play_back_offline(tmp_path: Path) -> None:
    inner = ScriptedChatModel(replies=["Hello.", Plan(goals=["a", "b"]), "streamed reply"])
    recorder = Model(
        RecordingChatModel(inner=inner, directory=tmp_path, mode="record"), name="scripted"
    )
    first = [recorder.invoke("hi").text, recorder.invoke("plan", output=Plan).parsed]
    first.append("".join(recorder.stream("stream")))
    files = sorted(tmp_path.glob("*.json"))
    assert (
        len(files) == 3
        and '"content": "hi"' in files[0].read_text() + files[1].read_text() + files[2].read_text()
    )
    nothing_left = ScriptedChatModel(replies=[])
    player = Model(RecordingChatModel(inner=nothing_left, directory=tmp_path), name="scripted")
    again = [
        player.invoke("hi").text,
        player.invoke("plan", output=Plan).parsed,
        "".join(player.stream("stream")),
    ]
    assert again == first and nothing_left.calls == []


def test_playback_fails_closed_and_shows_the_nearest_recording(tmp_path: Path) -> None:
    recorder = Model(
        RecordingChatModel(
            inner=ScriptedChatModel(replies=["x"]), directory=tmp_path, mode="record"
        ),
        name="scripted",
    )
    recorder.invoke("What is the price of the course?")
    player = Model(
        RecordingChatModel(inner=ScriptedChatModel(), directory=tmp_path), name="scripted"
    )
    with pytest.raises(RecordingMissingError) as info:
        player.invoke("What is the price of the membership?")
    message = str(info.value)
    assert "never calls the model" in message and "mode='record'" in message
    assert '-      "content": "What is the price of the course?"' in message
    assert '+      "content": "What is the price of the membership?"' in message
    with pytest.raises(RecordingMissingError, match="no recordings at all"):
        Model(
            RecordingChatModel(inner=ScriptedChatModel(), directory=tmp_path / "empty"), name="s"
        ).invoke("hi")


def test_settings_and_schemas_are_part_of_the_key(tmp_path: Path) -> None:
    recorder = Model(
        RecordingChatModel(
            inner=ScriptedChatModel(replies=[Plan(goals=[])]), directory=tmp_path, mode="record"
        ),
        name="s",
    )
    recorder.invoke("plan", output=Plan)
    player = Model(RecordingChatModel(inner=ScriptedChatModel(), directory=tmp_path), name="s")
    with pytest.raises(RecordingMissingError, match="max_tokens"):
        player.invoke("plan", output=Plan, max_tokens=99)  # another limit: another call
    assert player.invoke("plan", output=Plan).parsed == Plan(goals=[])


def test_live_mode_calls_through_and_writes_nothing(tmp_path: Path) -> None:
    live = Model(
        RecordingChatModel(
            inner=ScriptedChatModel(replies=["hi"]), directory=tmp_path, mode="live"
        ),
        name="s",
    )
    assert live.invoke("x").text == "hi"
    assert not tmp_path.exists() or list(tmp_path.iterdir()) == []
