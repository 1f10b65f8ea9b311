"""A process that chats with Maya's clone on fakes, for the crash tests of chat turns.

`python -m tests.one.chat_child DATA_DIR COMMAND`:
- `setup`: Maya, her content and clone, and one turn of the fan "sam";
- `killed`: a second turn of sam's, killed (SIGKILL) right after its answer is recorded,
  before the run's ending is written;
- `killed_at_ending`: a second turn of sam's, killed as its ending is about to be written
  (its checkpoint written, its steps' events held for the ending);
- `recover`: what a restarted process does first (`Runs.recover`).
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

from agents import _clone
from graphs import Runs
from one._app import One
from tests.one.conftest import make_one, with_maya

FIRST, SECOND = "How salty should pasta water be?", "And how long do I boil it?"


def main(data_dir: Path, command: str) -> None:
    with make_one(data_dir) as one:
        if command == "setup":
            maya = with_maya(one)
            one.build_clone(maya)
            one.chat(maya, "sam", FIRST)
        elif command == "killed":
            _die_after_recording()
            one.chat(_maya(one), "sam", SECOND)
        elif command == "killed_at_ending":
            _die_at_ending()
            one.chat(_maya(one), "sam", SECOND)
        elif command == "recover":
            one.runs.recover()


def _maya(one: One) -> str:
    return one.creator("Maya Lin").id


def _die_after_recording() -> None:
    record = _clone.Clone.record

    def recorded_then_killed(self: _clone.Clone, *args: Any, **kwargs: Any) -> Any:
        reply = record(self, *args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)
        return reply

    _clone.Clone.record = recorded_then_killed  # type: ignore[method-assign]


def _die_at_ending() -> None:
    end = Runs._end

    def killed_at_ending(self: Runs, accepted: Any, kind: str, *args: Any, **kwargs: Any) -> Any:
        if kind == "run_completed":
            os.kill(os.getpid(), signal.SIGKILL)
        return end(self, accepted, kind, *args, **kwargs)

    Runs._end = killed_at_ending  # type: ignore[method-assign]


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
