"""Which model: arguments, then environment, then .env; the tiny local model otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents import ModelSettings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("ONE_BASE_URL", "ONE_MODEL", "ONE_API_KEY", "OPENAI_API_KEY", "ONE_MAX_TOKENS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def test_no_key_and_no_server_means_the_local_model() -> None:
    settings = ModelSettings()
    assert (settings.backend, settings.model_name()) == ("local", "SmolLM2-135M-Instruct")


def test_an_openai_key_means_openai(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    settings = ModelSettings()
    assert (settings.backend, settings.model_name(), settings.key()) == (
        "openai",
        "gpt-4o-mini",
        "sk-env",
    )


def test_a_base_url_means_a_compatible_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONE_BASE_URL", "http://127.0.0.1:11434/v1")
    monkeypatch.setenv("ONE_MODEL", "llama3.2")
    assert (ModelSettings().backend, ModelSettings().model_name()) == ("compatible", "llama3.2")


def test_arguments_beat_environment_which_beats_dotenv(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text("ONE_MODEL=from-dotenv\nONE_MAX_TOKENS=64\n")
    assert ModelSettings().model == "from-dotenv" and ModelSettings().max_tokens == 64
    monkeypatch.setenv("ONE_MODEL", "from-env")
    assert ModelSettings().model == "from-env"
    assert ModelSettings(model="from-argument").model == "from-argument"


def test_bad_settings_are_refused_naming_the_field() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="max_tokens"):
        ModelSettings(max_tokens=0)
