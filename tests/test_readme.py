"""The README's Python examples run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from agents import allow_model_requests

README = Path(__file__).parents[1] / "README.md"


def test_readme_python_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    assert blocks
    monkeypatch.chdir(README.parent)  # the examples use paths in the repository
    monkeypatch.setenv("ONE_DATA_DIR", str(tmp_path))
    for variable in (
        "ONE_DATABASE_URL",
        "ONE_CHROMA_URL",
        "ONE_BASE_URL",
        "ONE_MODEL",
        "ONE_API_KEY",
        "OPENAI_API_KEY",
    ):
        monkeypatch.delenv(variable, raising=False)
    with allow_model_requests():  # the model example runs the real local model
        for block in blocks:
            exec(compile(block, str(README), "exec"), {})
    assert (tmp_path / "one.db").exists()
    assert (tmp_path / "chroma").is_dir()
