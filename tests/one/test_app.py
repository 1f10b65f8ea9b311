"""`One`, the wiring the CLI and the server share: parts opened when first used, creators
by name, chat turns replayed by request key, the creator's timeline."""

from __future__ import annotations

from pathlib import Path

import pytest

from one._app import One
from ontology.errors import InvalidInputError, NotFoundError
from tests.one.conftest import make_one, with_maya


def test_a_replayed_turn_is_that_turn_even_after_later_ones(one: One, maya: str) -> None:
    one.model.chat.text = lambda messages: f"re: {str(messages[-1].content).splitlines()[-1]}"  # type: ignore[attr-defined]
    first = one.chat(maya, "sam", "first question?", key="k1")
    second = one.chat(maya, "sam", "second question?", key="k2")
    assert first.text != second.text
    calls = len(one.model.chat.calls)  # type: ignore[attr-defined]
    again = one.chat(maya, "sam", "first question?", key="k1")
    assert (again.text, again.sources) == (first.text, first.sources)
    streamed = one.chat_stream(maya, "sam", "first question?", key="k1")
    assert "".join(streamed) == first.text and streamed.turn is not None
    assert len(one.model.chat.calls) == calls  # type: ignore[attr-defined]  # no model call


def test_creators_by_id_or_name_and_a_clear_error_listing_them(one: One) -> None:
    maya = one.add_creator("Maya Lin", "home cooking")
    assert one.add_creator("maya lin") == maya  # the same creator, not a second
    assert one.creator("MAYA LIN") == one.creator(maya.id) == maya
    with pytest.raises(NotFoundError, match="known: 'Maya Lin'; add one with `one init"):
        one.creator("Ada")


def test_messages_are_checked_before_any_model_call(one: One, maya: str) -> None:
    calls = len(one.model.chat.calls)  # type: ignore[attr-defined]
    with pytest.raises(InvalidInputError, match="is empty"):
        one.chat(maya, "sam", "   ")
    with pytest.raises(InvalidInputError, match="ONE_MAX_MESSAGE_CHARS"):
        one.chat(maya, "sam", "x" * (one.settings.max_message_chars + 1))
    assert len(one.model.chat.calls) == calls  # type: ignore[attr-defined]


def test_the_timeline_holds_the_creators_fans_clone_and_runs(one: One, maya: str) -> None:
    one.chat(maya, "sam", "hello?")
    kinds = {e.type for e in one.timeline(maya, limit=1000)}
    assert {"creator_created", "clone_created", "user_joined", "clone_interaction"} <= kinds
    assert {"run_accepted", "run_completed"} <= kinds
    last = one.timeline(maya, limit=1000)[-1].seq
    assert one.timeline(maya, after_seq=last) == []
    one.chat(maya, "sam", "again?")
    assert "clone_interaction" in {e.type for e in one.timeline(maya, after_seq=last)}


def test_parts_are_made_when_first_used(tmp_path: Path) -> None:
    def no_model() -> object:
        raise AssertionError("the model was made")

    with One(make_one(tmp_path).settings, model=no_model) as one:  # type: ignore[arg-type]
        one.add_creator("Maya Lin")
        assert one.runs_of() == [] and len(one.creators()) == 1
        assert "knowledge" not in vars(one) and "runs" not in vars(one)
        with pytest.raises(AssertionError, match="the model was made"):
            one.runs  # noqa: B018  # the runs need the model: made now, not before


def test_content_lists_what_ingesting_made(one: One) -> None:
    maya = with_maya(one)
    kinds = {e.type for e in one.content(maya)}
    assert {"video", "podcast", "blog_post", "social_post"} & kinds


def test_a_run_is_driven_once_however_many_drive_it_at_once(one: One) -> None:
    import threading

    from graphs import agent

    maya = one.add_creator("Maya Lin")
    brain = one.model.chat
    started = threading.Event()
    release = threading.Event()
    slow_text = brain.structured["Insights"]  # type: ignore[attr-defined]

    def slow(messages: object) -> object:
        started.set()
        release.wait(10)
        return slow_text

    brain.structured = {**brain.structured, "Insights": slow}  # type: ignore[attr-defined]
    input = {"creator_id": maya.id, "agent": "intelligence_agent", "task": None}
    run_id, accepted = one.runs.submit(agent.NAME, input)
    assert accepted and one.runs.submit(agent.NAME, input, run_id=run_id) == (run_id, False)
    results: list[str] = []
    first = threading.Thread(target=lambda: results.append(one.runs.drive(run_id).status))
    first.start()
    assert started.wait(10)
    assert one.runs.drive(run_id).status == "accepted"  # held by the first: left to it
    release.set()
    first.join(10)
    assert results == ["completed"]
    assert one.runs.drive(run_id).status == "completed"  # ended: nothing more to do
    events = [e.type for e in one.store.events.read_run(run_id)]
    assert events.count("node_started") == 1 and events.count("agent_completed") <= 1
    assert events.count("run_completed") == 1
