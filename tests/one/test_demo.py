"""The demo (`one demo`) end to end on fakes: every step, what it prints, and that a
second demo repeats nothing. `make demo` runs the same code on the local model."""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path

from rich.console import Console

from knowledge import FakeEmbedder
from one._demo import QUESTIONS, run_demo
from one._settings import Settings
from tests.one.conftest import brain_model


def test_the_demo_does_the_whole_job_once_however_often_it_runs(tmp_path: Path) -> None:
    model = brain_model()
    printed, counts = [], []
    for _ in range(2):
        out = io.StringIO()
        done = run_demo(
            Settings(data_dir=tmp_path),
            Console(file=out, width=160),
            model=model,
            embedder=FakeEmbedder(),
        )
        printed.append(out.getvalue())
        counts.append(Counter(e.type for e in done["timeline"]))
        assert {g: r.status for g, r in done["runs"].items()} == {
            "clone_build": "completed",
            "launch_creator": "completed",
            "daily_operations": "completed",
        }
        assert len(done["turns"]) == 3 and all(t.sources for t in done["turns"])
    assert counts[0] == counts[1]  # the second demo found everything done
    assert counts[0]["run_accepted"] == 6  # build, launch, the day, three questions
    assert counts[0]["clone_interaction"] == 3
    text = printed[0]
    for question in QUESTIONS:
        assert question in text
    for agent in ("strategy_agent", "marketing_agent", "intelligence_agent", "finance_agent"):
        assert agent in text
    assert "Maya Lin's timeline" in text and "run_completed" in text
