"""Search one creator's knowledge: dense, lexical (BM25), or both fused (the default).

A retriever is bound to one creator when it is made and cannot be pointed at another;
every hit's creator is checked before it is returned.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np
from pydantic import BaseModel, ConfigDict

from knowledge._chunks import Chunk
from knowledge._lexical import LexicalIndex
from knowledge.errors import IsolationError

if TYPE_CHECKING:
    from knowledge._knowledge import Knowledge

Mode = Literal["hybrid", "dense", "lexical"]
RRF_K = 60  # reciprocal rank fusion's constant (Cormack et al., 2009)


class Hit(BaseModel):
    """A retrieved chunk, its score in the search's mode, and each ranking's own score."""

    model_config = ConfigDict(frozen=True)

    chunk: Chunk
    score: float
    dense: float | None = None  # cosine similarity to the query
    lexical: float | None = None  # BM25 score


class Retriever:
    """Searches the knowledge of the creator it was made for, and only theirs.

    Made by `Knowledge.retriever(creator_id)`.
    """

    __slots__ = ("_creator_id", "_knowledge", "_lexical", "_lock")

    def __init__(self, knowledge: Knowledge, creator_id: str) -> None:
        self._knowledge = knowledge
        self._creator_id = creator_id
        self._lexical: tuple[str, LexicalIndex, _Corpus] | None = None
        self._lock = threading.Lock()

    @property
    def creator_id(self) -> str:
        """The creator this retriever serves (fixed for its life)."""
        return self._creator_id

    def warm(self) -> None:
        """Build the lexical index now, as a server does before it takes requests: the
        first search would otherwise wait for it (seconds at 100,000 chunks)."""
        self._lexical_index()

    def search(
        self,
        query: str,
        *,
        k: int = 5,
        mode: Mode = "hybrid",
        min_score: float | None = None,
        mmr: bool = False,
        diversity: float = 0.3,
    ) -> list[Hit]:
        """The `k` best chunks for `query`.

        Args:
            mode: "hybrid" fuses dense and BM25 rankings by reciprocal rank; "dense" and
                "lexical" use one ranking.
            min_score: drop hits whose `score` (the mode's) is below this.
            mmr: re-rank for diversity (maximal marginal relevance) so near-duplicate
                chunks do not crowd out others; `diversity` from 0 (none) to 1.
        """
        if k < 1:
            raise ValueError(f"k must be 1 or more, got {k}")
        if not query.strip():
            return []
        pool = max(4 * k, 20)
        lexical: dict[str, float] = {}
        corpus: _Corpus | None = None  # every chunk, in memory with the BM25 index
        if mode != "dense":
            index, corpus = self._lexical_index()
            lexical = {corpus.ids[i]: s for i, s in index.search(query, pool)}
        dense, fetched = self._dense(query, pool, corpus) if mode != "lexical" else ({}, {})
        ranked = _fuse(mode, dense, lexical)
        if min_score is not None:
            ranked = [r for r in ranked if r.score >= min_score]
        if mmr and len(ranked) > k:
            ranked = self._diversify(ranked, k, diversity)
        # Only the hits returned are made into chunks (a few of the pool's ~40).
        return [
            self._checked(
                Hit(
                    chunk=fetched[r.id] if r.id in fetched or corpus is None else corpus[r.id],
                    score=r.score,
                    dense=r.dense,
                    lexical=r.lexical,
                )
            )
            for r in ranked[:k]
        ]

    def openings(self, limit: int = 12) -> list[Chunk]:
        """The first chunk of up to `limit` sources, taking each kind in turn (a sample of
        how the creator writes and talks, e.g. for the clone's personality)."""
        collection = self._knowledge.collections.get(self._creator_id)
        data = collection.get(where={"position": 0}, include=["documents", "metadatas"])
        by_kind: dict[str, list[Chunk]] = {}
        for chunk in sorted(_chunks_of(data), key=lambda c: c.source):
            by_kind.setdefault(chunk.kind, []).append(self._checked_chunk(chunk))
        taken: list[Chunk] = []
        while len(taken) < limit and any(by_kind.values()):
            for kind in sorted(by_kind):
                if by_kind[kind] and len(taken) < limit:
                    taken.append(by_kind[kind].pop(0))
        return taken

    def _dense(
        self, query: str, n: int, corpus: _Corpus | None
    ) -> tuple[dict[str, float], dict[str, Chunk]]:
        """The `n` nearest chunks' cosine similarities, and those of them that `corpus`
        does not hold, read (Chroma only ranks when there is a corpus: half the time of
        also reading the texts)."""
        collection = self._knowledge.collections.get(self._creator_id)
        vector = np.asarray([self._knowledge.embedder.embed_query(query)], dtype=np.float32)
        include: Any = (
            ["distances"] if corpus is not None else ["documents", "metadatas", "distances"]
        )
        found = collection.query(query_embeddings=vector, n_results=n, include=include)
        ids, distances = found["ids"][0], (found["distances"] or [[]])[0]
        if corpus is None:
            texts, metas = (found["documents"] or [[]])[0], (found["metadatas"] or [[]])[0]
            fetched = {i: _chunk(i, t, m) for i, t, m in zip(ids, texts, metas, strict=True)}
        elif missing := [i for i in ids if i not in corpus]:  # added since it was read
            fetched = self._fetch(missing)
        else:
            fetched = {}
        ranked = zip(ids, distances, strict=True)  # a chunk deleted meanwhile is left out
        return {
            i: 1.0 - float(d)
            for i, d in ranked
            if i in fetched or (corpus is not None and i in corpus)
        }, fetched

    def _fetch(self, ids: list[str]) -> dict[str, Chunk]:
        collection = self._knowledge.collections.get(self._creator_id)
        data = collection.get(ids=ids, include=["documents", "metadatas"])
        return {chunk.id: chunk for chunk in _chunks_of(data)}

    def _lexical_index(self) -> tuple[LexicalIndex, _Corpus]:
        version = self._knowledge.collections.version(self._creator_id)
        with self._lock:
            if self._lexical is None or self._lexical[0] != version:
                corpus = self._corpus()
                self._lexical = (version, LexicalIndex(corpus.texts), corpus)
            return self._lexical[1], self._lexical[2]

    def _corpus(self, page: int = 2_000) -> _Corpus:
        """Every chunk of the creator, read a page at a time (one big get overflows Chroma)."""
        collection = self._knowledge.collections.get(self._creator_id)
        corpus = _Corpus()
        for offset in range(0, collection.count(), page):
            data = collection.get(include=["documents", "metadatas"], limit=page, offset=offset)
            for id_, text, metadata in zip(
                data["ids"], data["documents"] or [], data["metadatas"] or [], strict=True
            ):
                corpus.add(id_, text or "", metadata)
        return corpus

    def _diversify(self, ranked: list[_Ranked], k: int, diversity: float) -> list[_Ranked]:
        collection = self._knowledge.collections.get(self._creator_id)
        got = collection.get(ids=[r.id for r in ranked], include=["embeddings"])
        embeddings = got["embeddings"]
        assert embeddings is not None  # asked for in `include`
        by_id = dict(zip(got["ids"], list(embeddings), strict=True))
        vectors = np.array([by_id[r.id] for r in ranked], dtype=np.float32)
        # Relevance is the mode's own score, scaled to [0, 1], so MMR keeps its ranking.
        relevance = np.array([r.score for r in ranked], dtype=np.float32)
        relevance /= max(float(relevance.max()), 1e-9)
        return [ranked[i] for i in _mmr(relevance, vectors, k, diversity)]

    def _checked(self, hit: Hit) -> Hit:
        self._checked_chunk(hit.chunk)
        return hit

    def _checked_chunk(self, chunk: Chunk) -> Chunk:
        if chunk.creator_id != self._creator_id:
            raise IsolationError(
                f"a chunk of creator {chunk.creator_id!r} reached the retriever of "
                f"{self._creator_id!r}; it was not returned. This is a bug: please report it"
            )
        return chunk


class _Corpus:
    """Every chunk of a creator, kept in memory with the BM25 index: their texts and
    Chroma's metadata (plain strings and numbers), made into `Chunk`s only when found.

    A `Chunk` apiece would be 200,000 objects for the garbage collector at 100k chunks,
    which its full collections walk (~0.2 s, with every thread of the server waiting);
    strings, numbers and dicts of them are not tracked at all.
    """

    __slots__ = ("_metadatas", "_position", "ids", "texts")

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.texts: list[str] = []
        self._metadatas: list[Mapping[str, Any]] = []
        self._position: dict[str, int] = {}

    def add(self, id_: str, text: str, metadata: Mapping[str, Any]) -> None:
        self._position[id_] = len(self.ids)
        self.ids.append(id_)
        self.texts.append(text)
        self._metadatas.append(metadata)

    def __contains__(self, id_: str) -> bool:
        return id_ in self._position

    def __getitem__(self, id_: str) -> Chunk:
        at = self._position[id_]
        return _chunk(id_, self.texts[at], self._metadatas[at])


def _chunks_of(data: Any) -> Iterator[Chunk]:
    """The chunks a `collection.get(..., include=["documents", "metadatas"])` returned."""
    rows = zip(data["ids"], data["documents"] or [], data["metadatas"] or [], strict=True)
    return (_chunk(i, t, m) for i, t, m in rows)


def _chunk(id_: str, text: str | None, metadata: Mapping[str, Any]) -> Chunk:
    return Chunk.model_validate({**metadata, "id": id_, "text": text or ""})


class _Ranked(NamedTuple):
    """A chunk found, by id, with its score in the search's mode and each ranking's."""

    id: str
    score: float
    dense: float | None
    lexical: float | None


def _fuse(mode: Mode, dense: dict[str, float], lexical: dict[str, float]) -> list[_Ranked]:
    if mode == "dense":
        ranked = [_Ranked(i, s, s, None) for i, s in dense.items()]
    elif mode == "lexical":
        ranked = [_Ranked(i, s, None, s) for i, s in lexical.items()]
    else:
        fused: dict[str, float] = {}
        for ranking in (dense, lexical):
            ordered = sorted(ranking, key=lambda i: -ranking[i])
            for rank, id_ in enumerate(ordered, start=1):
                fused[id_] = fused.get(id_, 0.0) + 1.0 / (RRF_K + rank)
        ranked = [_Ranked(i, s, dense.get(i), lexical.get(i)) for i, s in fused.items()]
    return sorted(ranked, key=lambda r: -r.score)


def _mmr(
    relevance: np.ndarray[Any, Any], vectors: np.ndarray[Any, Any], k: int, diversity: float
) -> list[int]:
    """Maximal marginal relevance: pick relevant items unlike those already picked."""
    similarity = vectors @ vectors.T
    chosen = [int(np.argmax(relevance))]
    while len(chosen) < min(k, len(vectors)):
        redundancy = similarity[:, chosen].max(axis=1)
        scores = (1 - diversity) * relevance - diversity * redundancy
        scores[chosen] = -np.inf
        chosen.append(int(np.argmax(scores)))
    return chosen
