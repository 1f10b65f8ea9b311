"""The README's Python examples run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).parents[1] / "README.md"


def test_readme_python_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    assert blocks
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ONE_DATABASE_URL", raising=False)
    monkeypatch.delenv("ONE_DATA_DIR", raising=False)
    for block in blocks:
        exec(compile(block, str(README), "exec"), {})
    assert (tmp_path / ".one" / "one.db").exists()
