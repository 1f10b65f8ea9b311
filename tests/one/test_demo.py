from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from one._cli import app


def test_demo_builds_a_creator_and_prints_the_timeline_every_time(tmp_path: Path) -> None:
    runner = CliRunner()
    for _ in range(2):  # idempotent: a fresh database each run
        result = runner.invoke(app, ["demo", "--data-dir", str(tmp_path)], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        assert "Maya Lin's timeline (7 events" in result.output
        for event in ("creator_created", "clone_created", "payment_processed"):
            assert event in result.output
    assert (tmp_path / "demo.db").exists()
