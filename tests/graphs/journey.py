"""A creator, a fan and their ELEVATE journey, in files several processes share. Run as a
script, it starts the journey and exits at the payment gate, as a process that stops:

    python -m tests.graphs.journey DIR start
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from agents import Model, ScriptedChatModel
from agents.providers import Providers
from graphs import Deps, Runs, checkpointer, elevate
from ontology import Store

CREATOR_ID = "00000000-0000-4000-8000-00000000c0de"
FAN_ID = "00000000-0000-4000-8000-0000000000f1"


@dataclass
class Journey:
    runs: Runs
    store: Store
    providers: Providers


@contextmanager
def open_journey(
    directory: Path, now: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> Iterator[Journey]:
    directory.mkdir(parents=True, exist_ok=True)
    providers = Providers.simulated(directory / "simulators.db")
    with Store.open(f"sqlite:///{directory / 'one.db'}") as store:
        if store.entities.find(CREATOR_ID) is None:
            store.entities.create("creator", "Maya", id=CREATOR_ID)
            store.entities.create("audience_member", "Sam", id=FAN_ID)
        model = Model(ScriptedChatModel(replies=[]), name="unused")
        deps = Deps(store, model, providers=providers, now=now)
        with checkpointer(f"sqlite:///{directory / 'checkpoints.db'}") as saver:
            yield Journey(Runs(deps, saver, {elevate.NAME: elevate.build()}), store, providers)


if __name__ == "__main__":
    with open_journey(Path(sys.argv[1])) as journey:
        run = elevate.start_journey(journey.runs, CREATOR_ID, FAN_ID)
        print(run.status)
