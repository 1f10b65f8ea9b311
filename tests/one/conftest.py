"""ONE wired on fakes: a temporary data directory, the fake embedder, simulated providers,
and a model that answers any question with a fixed text and any structured request from
the outputs it was given (by the output model's name)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage
from pydantic import BaseModel, Field

from agents import Model, ScriptedChatModel
from agents.providers import Providers
from knowledge import FakeEmbedder
from one._app import One
from one._settings import Settings
from tests.agents.test_clone import PERSONALITY

SAMPLE = Path(__file__).parents[2] / "one" / "_samples" / "maya"


class Brain(ScriptedChatModel):
    """Answers every call: text questions with `text` (or `text(messages)`), structured
    requests with `structured[name of the output model]`."""

    text: Any = "Salt the water like the sea, then taste it."
    structured: dict[str, Any] = Field(default_factory=dict)

    def _reply(self, messages: list[BaseMessage], kwargs: dict[str, Any]) -> AIMessage:
        # Answered here, not through the script: a server's threads share this model.
        if "tools" in kwargs:
            name = kwargs["tools"][0]["function"]["name"]
            if name not in self.structured:
                raise AssertionError(f"Brain has no structured output for {name!r}")
            return self._answer(self.structured[name], messages, kwargs)
        text = self.text(messages) if callable(self.text) else self.text
        return self._answer(str(text), messages, kwargs)


def brain_model(*, record: bool = True, **structured: BaseModel | dict[str, Any]) -> Model:
    """A Brain knowing the clone's personality and every built-in agent's sample output
    (`tests.agents.test_specs.SAMPLES`), and `structured` besides; keeping its calls unless
    not `record`."""
    from tests.agents.test_specs import SAMPLES

    samples = {type(sample).__name__: sample for sample in SAMPLES.values()}
    return Model(
        Brain(structured={"Personality": PERSONALITY, **samples, **structured}, record=record),
        name="scripted",
    )


def make_one(data_dir: Path, model: Model | None = None, **settings: Any) -> One:
    return One(
        Settings(data_dir=data_dir, **settings),
        model=model or brain_model(),
        embedder=FakeEmbedder(),
        providers=Providers.simulated(),
    )


def with_maya(one: One) -> str:
    """Maya Lin added, her sample content ingested; her creator id."""
    profile = json.loads((SAMPLE / "profile.json").read_text())
    maya = one.add_creator(profile.pop("name"), properties=profile)
    one.ingest(maya.id, SAMPLE / "content")
    return maya.id


@pytest.fixture
def one(tmp_path: Path) -> Iterator[One]:
    with make_one(tmp_path / "data") as made:
        yield made


@pytest.fixture
def maya(one: One) -> str:
    creator_id = with_maya(one)
    run = one.build_clone(creator_id)
    assert run.status == "completed", run.values
    return creator_id


Factory = Callable[..., One]
