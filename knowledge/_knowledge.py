"""A creator's knowledge: ingest sources into Chroma, recorded in the ontology.

Each source is an entity the creator `owns` (a `video`, `podcast`, `blog_post`, ...), with
a `content_uploaded` or `content_changed` event. Chunks are written to Chroma first and the
ontology second, and both steps are idempotent, so an ingest stopped anywhere is finished
by running it again: unchanged sources cost one lookup, changed ones only their new chunks.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from knowledge._chunks import Chunk, Splitter
from knowledge._clean import DEFAULT_MAX_BYTES
from knowledge._collections import Collections, connect
from knowledge._embedder import Embedder
from knowledge._retriever import Retriever
from knowledge._sources import Source, SourceKind, from_record, load_file, walk
from knowledge.errors import ConfigurationError, SourceError
from ontology import Entity, Store, every

ENTITY_TYPES: dict[SourceKind, str] = {
    "video": "video",
    "audio": "podcast",
    "article": "blog_post",
    "post": "social_post",
    "interaction": "message",
    "text": "knowledge_item",
}
EMBED_GROUP = 256  # new chunks embedded together (an interrupted ingest redoes at most these)
_IDS = uuid.UUID("6f1b3c5e-0d7a-4c42-9a51-3b8e2f4d6a10")  # namespace for source entity ids


@dataclass
class Progress:
    """Where a long ingest is: `done` of `total` sources, the last one named."""

    done: int
    total: int
    source: str
    outcome: str  # "added", "updated", "moved", "unchanged" or "failed"


@dataclass
class _Plan:
    """What ingesting one source will change."""

    source: Source
    entity: Entity | None  # as it was before, if it existed
    chunks: list[Chunk]
    stored: set[str]  # ids of the chunks Chroma holds for the source now
    gone: list[str]
    moved_from: str | None = None  # the path the same file was recorded at, now gone

    @property
    def new(self) -> list[Chunk]:
        return [c for c in self.chunks if c.id not in self.stored]

    @property
    def kept(self) -> list[Chunk]:
        return [c for c in self.chunks if c.id in self.stored]


@dataclass
class IngestReport:
    """What an ingest did. `failed` maps a source to why it was refused; `moved`, a file
    whose content was recorded under a path that is gone, to that path."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    moved: dict[str, str] = field(default_factory=dict)
    chunks_written: int = 0
    chunks_removed: int = 0

    @property
    def ok(self) -> bool:
        return not self.failed


class Knowledge:
    """Creators' content in Chroma, one collection per creator, searchable by retrievers.

    Args:
        store: the ontology, where sources are recorded.
        embedder: the default is the local MiniLM model (no key, no network).
        path: an on-disk Chroma directory; `url`: a Chroma server; neither: in memory.
    """

    def __init__(
        self,
        store: Store,
        *,
        embedder: Embedder | None = None,
        path: Path | None = None,
        url: str | None = None,
        namespace: str = "one",
        chunk_tokens: int = 200,
        overlap_tokens: int = 30,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        if embedder is None:
            from knowledge._minilm import MiniLMEmbedder

            embedder = MiniLMEmbedder()
        self.store = store
        self.embedder = embedder
        self.collections = Collections(connect(path, url), embedder, namespace=namespace)
        self.splitter = Splitter(
            embedder.count_tokens, chunk_tokens=chunk_tokens, overlap_tokens=overlap_tokens
        )
        self.max_bytes = max_bytes
        # One retriever per creator, kept: its BM25 index is built once per version of
        # the creator's chunks, not at every search (a chat turn makes a new Clone).
        self._retrievers: dict[str, Retriever] = {}
        self._retrievers_lock = threading.Lock()

    @classmethod
    def open(
        cls,
        store: Store,
        *,
        embedder: Embedder | None = None,
        path: Path | None = None,
        url: str | None = None,
    ) -> Knowledge:
        """Chroma at `url`, else `ONE_CHROMA_URL`, else on disk at `path`, else under
        `ONE_DATA_DIR` (default `.one/`) in `chroma/`."""
        url = url or os.environ.get("ONE_CHROMA_URL")
        if url is None and path is None:
            path = Path(os.environ.get("ONE_DATA_DIR", ".one")) / "chroma"
        return cls(store, embedder=embedder, path=path, url=url)

    def ingest(
        self,
        creator_id: str,
        path: Path,
        *,
        kind: SourceKind | None = None,
        on_progress: Callable[[Progress], None] | None = None,
    ) -> IngestReport:
        """Ingest a file, or every ingestible file under a directory.

        A single file that cannot be ingested raises its `SourceError`; in a directory,
        such files are reported in `IngestReport.failed` and the others are ingested.
        """
        if not path.exists():
            raise SourceError(str(path), "no such file or directory")
        if path.is_file():
            sources = load_file(path, kind=kind, max_bytes=self.max_bytes)
            return self.ingest_sources(creator_id, sources, on_progress=on_progress)
        return self._ingest_files(creator_id, list(walk(path)), kind, on_progress)

    def ingest_records(
        self,
        creator_id: str,
        kind: SourceKind,
        records: Iterable[Mapping[str, Any]],
        *,
        on_progress: Callable[[Progress], None] | None = None,
    ) -> IngestReport:
        """Ingest posts (`{id, text}`) or interactions (`{id, message, reply}`) as records."""
        return self.ingest_sources(
            creator_id, [from_record(kind, r) for r in records], on_progress=on_progress
        )

    def ingest_sources(
        self,
        creator_id: str,
        sources: Sequence[Source],
        *,
        on_progress: Callable[[Progress], None] | None = None,
    ) -> IngestReport:
        """Ingest sources; each is added, updated (only its changed chunks), moved or left
        alone.

        The new chunks of several sources are embedded together (the model is several
        times faster on full batches); each source is then written on its own.
        """
        self._check_creator(creator_id)
        moves = _Moves(self.store, creator_id)
        return self._ingest_sources(creator_id, sources, on_progress, moves)

    def _ingest_sources(
        self,
        creator_id: str,
        sources: Sequence[Source],
        on_progress: Callable[[Progress], None] | None,
        moves: _Moves,
    ) -> IngestReport:
        sources = list({s.key: s for s in sources}.values())  # one key twice: the last wins
        report, pending = IngestReport(), list[_Plan]()
        for done, source in enumerate(sources, start=1):
            plan = self._plan(creator_id, source, moves)
            if plan is None:
                report.unchanged.append(source.key)
                if on_progress:
                    on_progress(Progress(done, len(sources), source.key, "unchanged"))
            else:
                pending.append(plan)
            if pending and (
                done == len(sources) or sum(len(p.new) for p in pending) >= EMBED_GROUP
            ):
                self._apply(creator_id, pending, report, on_progress, done, len(sources))
                pending = []
        return report

    def delete(self, creator_id: str, source_key: str) -> int:
        """Remove a source's chunks and mark its entity deleted; returns chunks removed."""
        collection = self.collections.get(creator_id)
        ids = collection.get(where={"source": source_key}, include=[])["ids"]
        if ids:
            collection.delete(ids=ids)
            self.collections.touch(creator_id)
        entity_id = source_entity_id(creator_id, source_key)
        entity = self.store.entities.get(entity_id, include_deleted=True)
        if entity.deleted_at is None:
            with self.store.transaction() as tx:
                tx.events.append(
                    "content_changed",
                    creator_id,
                    entity_id,
                    {"action": "deleted", "content_type": entity.type},
                    idempotency_key=f"delete:{entity_id}:{entity.updated_at}",
                )
                tx.entities.delete(entity_id)
        return len(ids)

    def count(self, creator_id: str) -> int:
        """How many chunks the creator has."""
        return self.collections.get(creator_id).count()

    def reset(self, creator_id: str) -> None:
        """Drop every chunk of the creator (their entities stay; ingest again to refill)."""
        self.collections.drop(creator_id)

    def retriever(self, creator_id: str) -> Retriever:
        """A retriever bound to this creator's knowledge, and no one else's."""
        self._check_creator(creator_id)
        with self._retrievers_lock:
            if creator_id not in self._retrievers:
                self._retrievers[creator_id] = Retriever(self, creator_id)
            return self._retrievers[creator_id]

    def _ingest_files(
        self,
        creator_id: str,
        files: list[Path],
        kind: SourceKind | None,
        on_progress: Callable[[Progress], None] | None,
    ) -> IngestReport:
        self._check_creator(creator_id)
        report, moves = IngestReport(), _Moves(self.store, creator_id)  # one for every file
        for done, file in enumerate(files, start=1):
            try:
                sources = load_file(file, kind=kind, max_bytes=self.max_bytes)
                part = self._ingest_sources(creator_id, sources, None, moves)
            except SourceError as e:
                report.failed[str(file)] = str(e)
                outcome = "failed"
            else:
                _merge(report, part)
                outcome = next(
                    (o for o in ("added", "updated", "moved") if getattr(part, o)), "unchanged"
                )
            if on_progress:
                on_progress(Progress(done, len(files), str(file), outcome))
        return report

    def _plan(self, creator_id: str, source: Source, moves: _Moves) -> _Plan | None:
        """What ingesting `source` has to do; `None` when it is already stored as it is."""
        entity_id = source_entity_id(creator_id, source.key)
        chunks = self.splitter.split(source, creator_id=creator_id, entity_id=entity_id)
        collection = self.collections.get(creator_id)
        stored = set(collection.get(where={"source": source.key}, include=[])["ids"])
        wanted = {c.id for c in chunks}
        entity = self.store.entities.find(entity_id, include_deleted=True)
        if (
            entity is not None
            and entity.deleted_at is None
            and stored == wanted
            and entity.properties.get("contentHash") == source.content_hash
        ):
            return None
        moved_from = moves.of(source) if entity is None else None
        return _Plan(source, entity, chunks, stored, sorted(stored - wanted), moved_from)

    def _apply(
        self,
        creator_id: str,
        plans: list[_Plan],
        report: IngestReport,
        on_progress: Callable[[Progress], None] | None,
        done: int,
        total: int,
    ) -> None:
        """Embed and store the plans' chunks together, then record each source.

        Chroma is written before the ontology: a source whose chunks are stored but not
        yet recorded is recorded by the next ingest, without embedding anything again.
        """
        self._write_chunks(creator_id, plans)
        for n, plan in enumerate(plans, start=done - len(plans) + 1):
            report.chunks_written += len(plan.new)
            report.chunks_removed += len(plan.gone)
            if plan.moved_from is not None:  # first: a crash here leaves no copy behind
                report.chunks_removed += self.delete(creator_id, plan.moved_from)
                report.moved[plan.source.key] = plan.moved_from
                outcome = "moved"
            else:
                outcome = "updated" if plan.entity is not None else "added"
                getattr(report, outcome).append(plan.source.key)
            self._record(creator_id, plan, len(plan.chunks))
            if on_progress:
                on_progress(Progress(n, total, plan.source.key, outcome))

    def _write_chunks(self, creator_id: str, plans: list[_Plan]) -> None:
        collection = self.collections.get(creator_id)
        step = self.collections.client.get_max_batch_size()
        new = [c for p in plans for c in p.new]
        kept = [c for p in plans for c in p.kept]  # positions may have moved: not re-embedded
        gone = [i for p in plans for i in p.gone]
        vectors = np.asarray(self.embedder.embed_documents([c.text for c in new]), np.float32)
        for i in range(0, len(new), step):
            batch = new[i : i + step]
            collection.upsert(
                ids=[c.id for c in batch],
                documents=[c.text for c in batch],
                metadatas=[c.metadata() for c in batch],
                embeddings=vectors[i : i + step],
            )
        for i in range(0, len(kept), step):
            batch = kept[i : i + step]
            collection.update(ids=[c.id for c in batch], metadatas=[c.metadata() for c in batch])
        if gone:
            collection.delete(ids=gone)
        self.collections.touch(creator_id)

    def _record(self, creator_id: str, plan: _Plan, chunk_count: int) -> None:
        source, before = plan.source, plan.entity
        entity_id = source_entity_id(creator_id, source.key)
        properties = {  # the source's own fields first: they cannot replace ONE's
            **source.details,
            "source": source.key,
            "kind": source.kind,
            "contentHash": source.content_hash,
            "chunkCount": chunk_count,
        }
        # The same key when a crashed ingest is retried; a new one after any other change.
        state = before.updated_at.isoformat() if before else "new"
        key = f"ingest:{entity_id}:{source.content_hash}:{state}"
        with self.store.transaction() as tx:
            if before is None:
                tx.entities.create(
                    ENTITY_TYPES[source.kind],
                    source.title,
                    properties,
                    status="published",
                    id=entity_id,
                )
                tx.connections.connect(creator_id, entity_id, "owns")
                uploaded = {"source": source.key, "kind": source.kind, "chunks": chunk_count}
                if plan.moved_from is not None:
                    uploaded["movedFrom"] = plan.moved_from
                tx.events.append(
                    "content_uploaded", creator_id, entity_id, uploaded, idempotency_key=key
                )
                return
            tx.entities.restore(entity_id)
            tx.entities.patch(entity_id, properties, name=source.title)
            tx.events.append(
                "content_changed",
                creator_id,
                entity_id,
                {"action": "updated", "content_type": source.kind, "chunks": chunk_count},
                idempotency_key=key,
            )

    def _check_creator(self, creator_id: str) -> None:
        creator = self.store.entities.get(creator_id)
        if creator.type != "creator":
            raise ConfigurationError(
                f"{creator_id!r} is a {creator.type}, not a creator; knowledge belongs to creators"
            )


def source_entity_id(creator_id: str, source_key: str) -> str:
    """The id of the entity that records a creator's source (stable across ingests)."""
    return str(uuid.uuid5(_IDS, f"{creator_id}\0{source_key}"))


class _Moves:
    """The creator's files recorded at paths that are gone, by content, for an ingest to
    find a file moved (or its folder, or the repository it is in) by: the same content
    under a new path is that source, not a second copy of it beside the first."""

    def __init__(self, store: Store, creator_id: str) -> None:
        self._store, self._creator_id = store, creator_id
        self._gone: dict[str, list[str]] | None = None  # paths by content; listed when asked

    def of(self, source: Source) -> str | None:
        """The path of the recorded source that `source` (new under its path) is, moved
        from there; or None."""
        if not os.path.isabs(source.key):  # a record's key: the same wherever its file is
            return None
        if self._gone is None:
            self._gone = {}
            for entity in every(self._store.entities.query, owner=self._creator_id, limit=500):
                where = entity.properties.get("source")
                if isinstance(where, str) and os.path.isabs(where) and not Path(where).exists():
                    content = str(entity.properties.get("contentHash"))
                    self._gone.setdefault(content, []).append(where)
        found = self._gone.get(source.content_hash)
        return found.pop(0) if found else None  # once: a second copy is a new source


def _merge(report: IngestReport, part: IngestReport) -> None:
    report.added += part.added
    report.moved |= part.moved
    report.updated += part.updated
    report.unchanged += part.unchanged
    report.chunks_written += part.chunks_written
    report.chunks_removed += part.chunks_removed
