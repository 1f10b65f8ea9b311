"""A Celery worker of ONE on fakes, for the distributed test: the scripted model that
answers every agent, the fake embedder and simulated providers, on the database, Chroma
server and broker of the environment (`ONE_DATABASE_URL`, `ONE_CHROMA_URL`,
`ONE_BROKER_URL`, `ONE_DATA_DIR`).

`python -m tests.one.worker_child NAME RECORD` starts the worker `NAME`; each task it
runs, and its readiness, is a line appended to the file `RECORD`: `ready NAME PID`, or
`ran NAME PID RUN_ID STATUS`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from celery.signals import task_postrun, worker_ready

from agents.providers import Providers
from knowledge import FakeEmbedder
from one import _worker
from one._app import One
from one._settings import Settings
from tests.agents.test_specs import SAMPLES
from tests.one.conftest import brain_model


def answers() -> dict[str, Any]:
    """The scripted model's structured answers: one sample per agent, by output name."""
    return {type(sample).__name__: sample for sample in SAMPLES.values()}


def one_on_fakes() -> One:
    return One(
        Settings(),
        model=brain_model(**answers()),
        embedder=FakeEmbedder(),
        providers=Providers.simulated(),
    )


def main(name: str, record: Path) -> None:
    def write(line: str) -> None:
        with record.open("a") as out:  # one short append per line: lines do not interleave
            out.write(line + "\n")

    @task_postrun.connect(weak=False)  # type: ignore[untyped-decorator]
    def ran(args: Any = (), retval: Any = None, **_: Any) -> None:
        write(f"ran {name} {os.getpid()} {args[0]} {retval}")

    @worker_ready.connect(weak=False)  # type: ignore[untyped-decorator]
    def ready(**_: Any) -> None:
        write(f"ready {name} {os.getpid()}")

    _worker._factory = one_on_fakes
    _worker.app().worker_main(
        [
            "worker",
            f"--hostname={name}@%h",
            "--pool=prefork",
            "--concurrency=2",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
    )


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
