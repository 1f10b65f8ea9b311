"""Chroma, one collection per creator, each stamped with its creator and embedder.

A metadata filter on one shared collection measured ~40x slower at 100k vectors, and a
collection per creator makes isolation structural: a query can only reach one creator.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import chromadb
from chromadb.api import ClientAPI
from chromadb.api.models.Collection import Collection
from chromadb.config import Settings
from filelock import FileLock

from knowledge._embedder import Embedder
from knowledge.errors import ConfigurationError, EmbedderMismatchError, StoreUnavailableError

_SETTINGS = Settings(anonymized_telemetry=False, allow_reset=True)


def connect(path: Path | None = None, url: str | None = None) -> ClientAPI:
    """A Chroma client: a server at `url`, else on disk at `path`, else in memory."""
    if url:
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ConfigurationError(f"Chroma URL {url!r} must look like http://host:8000")
        try:
            client = chromadb.HttpClient(
                host=parsed.hostname,
                port=parsed.port or 8000,
                ssl=parsed.scheme == "https",
                settings=_SETTINGS,
            )
            client.heartbeat()
        except Exception as e:  # the client raises several types for a server that is down
            raise StoreUnavailableError(
                f"no Chroma server answers at {url} ({e}); start one (`chroma run --path DIR`) "
                "or unset ONE_CHROMA_URL to use the embedded store"
            ) from None
        return client
    if path is None:
        return chromadb.EphemeralClient(settings=_SETTINGS)
    path.mkdir(parents=True, exist_ok=True)
    # Chroma creates its tables when a client first opens the folder; two processes doing
    # so at once (two schedulers starting on a fresh data dir) fail with "table
    # collections already exists". Opening under a lock file makes them take turns.
    with FileLock(path / ".open.lock"):
        return chromadb.PersistentClient(path=str(path), settings=_SETTINGS)


class Collections:
    """The per-creator collections in one Chroma, all filled by one embedder."""

    # How long a version read from Chroma is trusted: a change by this process is seen at
    # once (`touch`), one by another process within this many seconds. Reading it costs
    # about as much as the rest of a search.
    VERSION_MAX_AGE = 1.0

    def __init__(self, client: ClientAPI, embedder: Embedder, *, namespace: str = "one") -> None:
        self.client = client
        self.embedder = embedder
        self.namespace = namespace
        self._open: dict[str, Collection] = {}
        self._versions: dict[str, tuple[str, float]] = {}  # creator: (version, read at)
        self._changes: dict[str, int] = {}  # creator: changes made here (touch, drop)
        self._lock = threading.Lock()

    def name(self, creator_id: str) -> str:
        digest = hashlib.sha256(creator_id.encode()).hexdigest()[:32]
        return f"{self.namespace}-creator-{digest}"

    def get(self, creator_id: str) -> Collection:
        """The creator's collection, created on first use, checked against the embedder."""
        if creator_id not in self._open:
            collection = self.client.get_or_create_collection(
                self.name(creator_id),
                embedding_function=None,
                configuration={"hnsw": {"space": "cosine"}},
                metadata=self._stamp(creator_id, version=uuid.uuid4().hex),
            )
            self._check(creator_id, collection.metadata or {})
            self._open[creator_id] = collection
        return self._open[creator_id]

    def version(self, creator_id: str) -> str:
        """Changes whenever the creator's chunks change (by another process: seen within
        `VERSION_MAX_AGE` seconds)."""
        known = self._versions.get(creator_id)
        if known is not None and time.monotonic() - known[1] < self.VERSION_MAX_AGE:
            return known[0]
        changes = self._changes.get(creator_id, 0)
        self.get(creator_id)  # created if the creator has none yet
        metadata = self.client.get_collection(self.name(creator_id)).metadata or {}
        version = str(metadata.get("version", ""))
        with self._lock:
            if self._changes.get(creator_id, 0) == changes:  # else it may be the one before
                self._versions[creator_id] = (version, time.monotonic())
        return version

    def touch(self, creator_id: str) -> None:
        """Record that the creator's chunks changed."""
        version = uuid.uuid4().hex
        self.get(creator_id).modify(metadata=self._stamp(creator_id, version=version))
        self._changed(creator_id)

    def drop(self, creator_id: str) -> None:
        """Delete the creator's collection and every chunk in it."""
        self._open.pop(creator_id, None)
        try:
            self.client.delete_collection(self.name(creator_id))
        except Exception:  # chromadb raises NotFoundError or ValueError by version
            pass
        finally:
            self._changed(creator_id)

    def _changed(self, creator_id: str) -> None:
        """Once a change is made: forget the version known, and count the change, so that
        a `version` read while it was being made is not kept (it may be the one before)."""
        with self._lock:
            self._changes[creator_id] = self._changes.get(creator_id, 0) + 1
            self._versions.pop(creator_id, None)

    def _stamp(self, creator_id: str, *, version: str) -> dict[str, Any]:
        return {
            "creator_id": creator_id,
            "embedder": self.embedder.name,
            "dimension": self.embedder.dimension,
            "version": version,
        }

    def _check(self, creator_id: str, metadata: dict[str, Any]) -> None:
        if metadata.get("creator_id") != creator_id:
            raise ConfigurationError(
                f"collection {self.name(creator_id)} belongs to {metadata.get('creator_id')!r}"
            )
        built = f"{metadata.get('embedder')} ({metadata.get('dimension')} dims)"
        if built != self.embedder.signature:
            raise EmbedderMismatchError(creator_id, built, self.embedder.signature)
