"""ONE wired from its settings: the store, the knowledge, the model, the providers and the
runs of every graph, with the operations the CLI and the server share.

Parts are opened when first used, and the local model's server starts at the first model
call: listing schedules or events starts nothing.
"""

from __future__ import annotations

import functools
import json
import tempfile
import uuid
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import UTC, date, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from agents import AgentRegistry, Clone, Model, fan
from agents.providers import Providers, ProviderSettings
from graphs import Deps, Run, Runs, agent, available, checkpointer, clone, daily, launch
from knowledge import Embedder, Hit, IngestReport, Knowledge, Progress
from one._settings import Settings
from ontology import Entity, Event, Store, every
from ontology.errors import InvalidInputError, NotFoundError

if TYPE_CHECKING:
    from one._schedules import Target

_NAMESPACE = uuid.UUID("6f1d7c52-3a0e-4b8e-9d55-0c1b7e2f4a10")


def stable_id(*parts: str) -> str:
    """A run id made from `parts`: the same parts, the same run (so, started once)."""
    return str(uuid.uuid5(_NAMESPACE, "\0".join(parts)))


def run_json(run: Run, *, events: bool = True) -> dict[str, Any]:
    """A run as JSON (what `one runs show --json` prints and the server returns)."""
    body: dict[str, Any] = {
        "id": run.id,
        "graph": run.graph,
        "creator_id": run.creator_id,
        "thread_id": run.thread_id,
        "status": run.status,
        "values": json.loads(json.dumps(run.values, default=str)),
        "interrupts": [json.loads(json.dumps(i.value, default=str)) for i in run.interrupts],
    }
    if events:
        body["events"] = [e.model_dump(mode="json") for e in run.events]
    return body


class One:
    """ONE on its settings. Use it as a context manager, or `close()` it.

    `model`, `embedder`, `providers` and `clock` replace what the settings would make
    (tests pass fakes; a worker passes its own).
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        model: Model | Callable[[], Model] | None = None,
        embedder: Embedder | None = None,
        providers: Providers | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.settings = settings or Settings()
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        self._model, self._embedder, self._providers = model, embedder, providers
        self.now: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self._exit = ExitStack()
        url = self.settings.database_url or f"sqlite:///{self.settings.data_dir / 'one.db'}"
        self.store = self._exit.enter_context(
            Store.open(url, busy_timeout=self.settings.busy_timeout)
        )

    # -- the parts, opened when first used ---------------------------------------------

    @functools.cached_property
    def model(self) -> Model:
        if isinstance(self._model, Model):
            return self._model
        return self._model() if self._model is not None else Model.from_settings()

    @functools.cached_property
    def knowledge(self) -> Knowledge:
        return Knowledge.open(
            self.store,
            embedder=self._embedder,
            url=self.settings.chroma_url,
            path=self.settings.data_dir / "chroma",
        )

    @functools.cached_property
    def providers(self) -> Providers:
        if self._providers is not None:
            return self._providers
        settings = ProviderSettings()
        if settings.simulation_path is None:
            settings.simulation_path = self.settings.data_dir / "simulators.db"
        return Providers.from_settings(settings)

    @functools.cached_property
    def registry(self) -> AgentRegistry:
        return AgentRegistry.default()

    @functools.cached_property
    def runs(self) -> Runs:
        url = self.settings.checkpoint_url
        if url is None and self.store.url.startswith("postgresql"):
            url = self.settings.database_url  # the same server keeps the checkpoints
        url = url or f"sqlite:///{self.settings.data_dir / 'checkpoints.db'}"
        saver = self._exit.enter_context(checkpointer(url, busy_timeout=self.settings.busy_timeout))
        deps = Deps(
            self.store,
            self.model,
            knowledge=self.knowledge,
            providers=self.providers,
            registry=self.registry,
            now=self.now,
        )
        return Runs(deps, saver, {name: build() for name, build in available().items()})

    def close(self) -> None:
        self._exit.close()

    def __enter__(self) -> One:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- creators and their content ------------------------------------------------------

    def creators(self) -> list[Entity]:
        return list(every(self.store.entities.query, "creator", limit=500))

    def creator(self, ref: str) -> Entity:
        """The creator `ref` names: an id, or a name (any case).

        Raises:
            NotFoundError: no such creator; the message lists the known ones.
        """
        found = self.store.entities.find(ref)
        if found is not None and found.type == "creator":
            return found
        for creator in self.creators():
            if creator.name.casefold() == ref.strip().casefold():
                return creator
        known = ", ".join(repr(c.name) for c in self.creators()[:10]) or "none yet"
        raise NotFoundError(
            "creator", ref, f"known: {known}; add one with `one init --creator NAME`"
        )

    def add_creator(
        self, name: str, niche: str | None = None, properties: Mapping[str, Any] | None = None
    ) -> Entity:
        """The creator `name`, created (with `creator_created`) if there is none yet;
        `properties` is their profile (bio, audience, goals, products, ...)."""
        try:
            return self.creator(name)
        except NotFoundError:
            pass
        properties = {**(properties or {}), **({"niche": niche} if niche else {})}
        creator_id = stable_id("creator", name.strip().casefold())
        with self.store.transaction() as tx:
            made = tx.entities.create("creator", name.strip(), properties, id=creator_id)
            tx.events.append(
                "creator_created",
                made.id,
                made.id,
                {"niche": properties.get("niche")},
                idempotency_key=f"creator_created:{made.id}",
            )
        return made

    def ingest(
        self,
        creator_id: str,
        path: Path,
        *,
        on_progress: Callable[[Progress], None] | None = None,
    ) -> IngestReport:
        return self.knowledge.ingest(creator_id, path, on_progress=on_progress)

    def ingest_upload(self, creator_id: str, filename: str, data: bytes) -> IngestReport:
        """Ingest one uploaded file, by its name's suffix (`.md`, `.srt`, `.json`, ...)."""
        name = Path(filename).name
        if not name or name in (".", ".."):
            raise InvalidInputError("filename", "give the file's name, e.g. `post.md`")
        with tempfile.TemporaryDirectory(prefix="one-upload-") as folder:
            path = Path(folder) / name
            path.write_bytes(data)
            return self.knowledge.ingest(creator_id, path)

    def content(self, creator_id: str) -> list[Entity]:
        """What the creator owns that ingesting made: their posts, videos, podcasts, ..."""
        return [
            e
            for e in every(self.store.entities.query, owner=creator_id, limit=500)
            if "source" in e.properties or "contentHash" in e.properties
        ]

    def search(self, creator_id: str, query: str, *, k: int | None = None) -> list[Hit]:
        """The chunks, and their scores, that the clone would see for `query`."""
        self.creator(creator_id)
        retriever = self.knowledge.retriever(creator_id)
        return retriever.search(query, k=k or Clone.DEFAULT_K)

    # -- the clone -------------------------------------------------------------------------

    def build_clone(self, creator_id: str, *, wait: bool = True) -> Run:
        """Build the creator's clone; once per state of their content (rebuilt after new
        content is ingested)."""
        sources = len(self.content(creator_id))
        run_id = stable_id(clone.BUILD, creator_id, str(sources))
        return self.start(clone.BUILD, {"creator_id": creator_id}, run_id=run_id, wait=wait)

    def fan(self, creator_id: str, handle: str) -> Entity:
        return fan(self.store, creator_id, handle)

    def chat(
        self, creator_id: str, handle: str, message: str, *, key: str | None = None
    ) -> clone.ChatTurn:
        self._check_message(message)
        return clone.chat(self.runs, creator_id, self.fan(creator_id, handle).id, message, key=key)

    def chat_stream(
        self, creator_id: str, handle: str, message: str, *, key: str | None = None
    ) -> clone.ChatStream:
        self._check_message(message)
        fan_id = self.fan(creator_id, handle).id
        return clone.chat_stream(self.runs, creator_id, fan_id, message, key=key)

    def _check_message(self, message: str) -> None:
        if not message.strip():
            raise InvalidInputError("message", "is empty; say something to the clone")
        if len(message) > self.settings.max_message_chars:
            raise InvalidInputError(
                "message",
                f"is {len(message)} characters; the most is {self.settings.max_message_chars}"
                " (ONE_MAX_MESSAGE_CHARS)",
            )

    # -- agents and graphs ---------------------------------------------------------------

    def launch(self, creator_id: str, *, wait: bool = True) -> Run:
        """Launch the creator: the agents registered, then strategy, then marketing. Once."""
        run_id = stable_id(launch.NAME, creator_id)
        return self.start(launch.NAME, {"creator_id": creator_id}, run_id=run_id, wait=wait)

    def daily(self, creator_id: str, day: date | None = None, *, wait: bool = True) -> Run:
        """The creator's day of operations; once per day."""
        day = day or self.now().date()
        run_id = stable_id(daily.NAME, creator_id, day.isoformat())
        return self.start(daily.NAME, {"creator_id": creator_id}, run_id=run_id, wait=wait)

    def run_agent(
        self, creator_id: str, name: str, task: str | None = None, *, wait: bool = True
    ) -> Run:
        self.registry.get(name)  # an unknown agent: the error lists the known ones
        input = {"creator_id": creator_id, "agent": name, "task": task}
        return self.start(agent.NAME, input, wait=wait)

    def agents(self, creator_id: str) -> list[Entity]:
        """The creator's business agents."""
        owned = every(self.store.entities.query, owner=creator_id, limit=500)
        return [e for e in owned if e.type.endswith("_agent")]

    def start(
        self,
        graph: str,
        input: Mapping[str, Any],
        *,
        run_id: str | None = None,
        wait: bool = True,
    ) -> Run:
        """Start a run of `graph` (once per `run_id`): to its end or a gate, or, without
        `wait`, accepted and handed to `dispatch`, to be driven in the background."""
        if wait:
            return self.runs.start(graph, input, run_id=run_id)
        run_id, fresh = self.runs.submit(graph, input, run_id=run_id)
        if fresh:
            self.dispatch(run_id)
        return self.runs.get(run_id)

    def dispatch(self, run_id: str) -> None:
        """Have an accepted run driven: by the Celery workers with a broker, else on a
        thread of this process."""
        enqueue = self.enqueuer()
        if enqueue is not None:
            enqueue(run_id)
        else:
            self._pool.submit(self.runs.drive, run_id)

    def enqueuer(self) -> Callable[[str], None] | None:
        """What sends a run to the workers (the settings' broker), or None without one."""
        if not self.settings.broker_url:
            return None
        from one._worker import enqueue

        return functools.partial(enqueue, broker_url=self.settings.broker_url)

    @functools.cached_property
    def _pool(self) -> ThreadPoolExecutor:
        pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="one-run")
        self._exit.callback(pool.shutdown, wait=False, cancel_futures=True)
        return pool

    def add_schedule(
        self,
        creator_id: str,
        target: Target,
        name: str,
        cron: str,
        *,
        timezone: str = "UTC",
        end: datetime | None = None,
        enabled: bool = True,
    ) -> Entity:
        """Schedule an agent or a graph (which must exist) for a creator; see `Schedules`."""
        from one._schedules import Schedules

        if target == "agent":
            self.registry.get(name)
        else:
            self.runs.compiled(name)
        return Schedules(self.store).add(
            creator_id, target, name, cron, timezone=timezone, end=end, enabled=enabled,
            now=self.now(),
        )  # fmt: skip

    def runs_of(self, creator_id: str | None = None, *, limit: int = 50) -> list[Run]:
        page = self.store.events.timeline(
            type="run_accepted", actor_id=creator_id, newest_first=True, limit=limit
        )
        return [self.runs.get(str(e.run_id)) for e in page.items if e.run_id]

    # -- the timeline ------------------------------------------------------------------

    def timeline(
        self,
        creator_id: str,
        *,
        after_seq: int | None = None,
        type: str | None = None,
        limit: int = 100,
        newest_first: bool = False,
    ) -> list[Event]:
        """What happened in the creator's business: events whose actor or target is the
        creator, something they own, or one of their fans."""
        return self.store.events.timeline(
            involving=self._involved(creator_id),
            after_seq=after_seq,
            type=type,
            limit=limit,
            newest_first=newest_first,
        ).items

    def names(self, ids: Iterable[str]) -> dict[str, str]:
        """The names of the entities `ids` (deleted ones too), by id; unknown ids left out."""
        found = (self.store.entities.find(i, include_deleted=True) for i in set(ids))
        return {e.id: e.name for e in found if e is not None}

    def _involved(self, creator_id: str) -> list[str]:
        ids = {creator_id}
        for kind, direction in (("owns", "from"), ("following", "to")):
            query = self.store.connections.query
            for c in every(query, type=kind, limit=500, **{f"{direction}_id": creator_id}):
                ids.add(c.to_id if direction == "from" else c.from_id)
        return sorted(ids)
