"""Benchmarks of `knowledge` with the local MiniLM embedder and embedded Chroma.

1. Retrieval quality: recall@1 and recall@5 of dense, lexical and hybrid search over the
   sample creator's content, on its 60 labelled questions.
2. Ingest throughput, as a ratio to the raw embedder on the same chunks in the same run.
3. Query latency (query embedding included) at 10k and 100k chunks in one collection.
   Filling 100k chunks through the model would take most of an hour, so those vectors are
   blends of real MiniLM sentence vectors from the sample content (and their texts the
   same blends of sentences): realistic clustering, written straight to the collection.
"""

from __future__ import annotations

import json
import random
import re
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from bench._report import Figure, out, progress, query_figures, report
from knowledge import Knowledge, MiniLMEmbedder, Segment, Source, load_file
from knowledge._sources import walk
from ontology import Store

SAMPLE = Path(__file__).parents[1] / "one" / "_samples" / "maya"
SEED = 7
QUERY_GOAL_MS = 25.0
INGEST_GOAL = 0.8
ROUNDS = 3


@dataclass(frozen=True)
class Scale:
    ingest_sources: int
    sizes: tuple[int, ...]
    queries: int


FULL = Scale(ingest_sources=120, sizes=(10_000, 100_000), queries=300)
QUICK = Scale(ingest_sources=12, sizes=(2_000,), queries=60)


@contextmanager
def knowledge() -> Iterator[tuple[Knowledge, str]]:
    """Knowledge on a fresh SQLite file and Chroma directory; and a creator's id."""
    with tempfile.TemporaryDirectory(prefix="one-bench-") as tmp:
        store = Store.open(f"sqlite:///{Path(tmp) / 'one.db'}")
        k = Knowledge(store, embedder=MiniLMEmbedder(), path=Path(tmp) / "chroma")
        yield k, store.entities.create("creator", "Maya Lin").id
        store.close()


def sample_sources() -> list[Source]:
    return [s for f in walk(SAMPLE / "content") for s in load_file(f)]


# --- 1. retrieval quality -----------------------------------------------------------------


def retrieval_quality(quick: bool) -> dict[str, Any]:
    questions = json.loads((SAMPLE / "eval" / "questions.json").read_text())
    with knowledge() as (k, creator):
        k.ingest(creator, SAMPLE / "content")
        retriever = k.retriever(creator)
        figures = []
        for mode in ("dense", "lexical", "hybrid"):
            ranks = [
                _answer_rank(retriever.search(q["question"], k=5, mode=mode), q["answer"])
                for q in questions
            ]
            for at in (1, 5):
                recall = sum(r is not None and r < at for r in ranks) / len(ranks)
                figures.append(
                    Figure(f"{mode}_recall_at_{at}", f"{mode} recall@{at}", recall * 100, "%")
                )
    return report(
        f"Retrieval quality: {len(questions)} labelled questions, sample creator", figures
    )


def _answer_rank(hits: list[Any], answer: str) -> int | None:
    squash = _squash(answer)
    return next((i for i, h in enumerate(hits) if squash in _squash(h.chunk.text)), None)


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


# --- 2. ingest throughput -----------------------------------------------------------------


def ingest_throughput(quick: bool) -> dict[str, Any]:
    """Raw embedding and full ingest of the same chunks, alternated; the median ratio."""
    scale = QUICK if quick else FULL
    sources = synthetic_sources(scale.ingest_sources, random.Random(SEED))
    raws, ingests = [], []
    for _ in range(ROUNDS):
        with knowledge() as (k, creator):
            texts = [
                c.text
                for s in sources
                for c in k.splitter.split(s, creator_id=creator, entity_id="x")
            ]
            k.embedder.embed_documents(texts[:32])  # load the model outside both timings
            started = time.perf_counter()
            k.embedder.embed_documents(texts)
            raws.append(time.perf_counter() - started)
            started = time.perf_counter()
            done = k.ingest_sources(creator, sources)
            ingests.append(time.perf_counter() - started)
        assert done.chunks_written == len(texts)
    ratios = sorted(r / i for r, i in zip(raws, ingests, strict=True))
    ratio = ratios[len(ratios) // 2]
    return report(
        f"Ingest: {len(sources)} sources, {len(texts):,} chunks, median of {ROUNDS} rounds",
        [
            Figure(
                "raw_chunks_per_s", "raw embedder", len(texts) / statistics.median(raws), "chunks/s"
            ),
            Figure(
                "ingest_chunks_per_s",
                "ingest (split, embed, store, record)",
                len(texts) / statistics.median(ingests),
                "chunks/s",
            ),
            Figure("ratio_min", "ingest / raw, lowest round", ratios[0], "x"),
            Figure(
                "ratio",
                "ingest / raw embedder, median round",
                ratio,
                "x",
                goal=f">= {INGEST_GOAL}",
                met=ratio >= INGEST_GOAL,
            ),
        ],
    )


def sample_sentences() -> list[str]:
    text = " ".join(s.text for s in sample_sources())
    return [s for s in re.split(r"(?<=[.!?])\s+", text) if len(s.split()) >= 5]


def synthetic_sources(count: int, rng: random.Random) -> list[Source]:
    """Articles of 10-30 shuffled sentences from the sample content, a few chunks each."""
    sentences = sample_sentences()
    return [
        Source(
            key=f"bench:{i}",
            kind="article",
            title=f"article {i}",
            segments=[Segment(text=" ".join(rng.sample(sentences, rng.randint(10, 30))))],
        )
        for i in range(count)
    ]


# --- 3. query latency ---------------------------------------------------------------------


def query_latency(quick: bool) -> dict[str, Any]:
    scale = QUICK if quick else FULL
    rng = random.Random(SEED)
    questions = [q["question"] for q in json.loads((SAMPLE / "eval/questions.json").read_text())]
    figures: list[Figure] = []
    with knowledge() as (k, creator):
        sentences = sample_sentences()
        vectors = np.array(k.embedder.embed_documents(sentences), dtype=np.float32)
        filled = 0
        for size in scale.sizes:
            filled += fill(k, creator, sentences, vectors, size - filled, filled, rng)
            retriever = k.retriever(creator)
            started = time.perf_counter()
            retriever.search("warm up the lexical index")
            figures.append(
                Figure(
                    f"lexical_build_{size}",
                    f"{size:,}: BM25 index build",
                    time.perf_counter() - started,
                    "s",
                )
            )
            keys = [rng.choice(questions) for _ in range(scale.queries)]
            for mode in ("hybrid", "dense"):
                figures += query_figures(
                    f"{mode}_{size}",
                    f"{size:,}: {mode} search, k=5",
                    partial(retriever.search, k=5, mode=mode),
                    keys,
                    goal_ms=QUERY_GOAL_MS,
                )
    return report("Query latency, embedding the query included", figures)


def fill(
    k: Knowledge,
    creator: str,
    sentences: list[str],
    vectors: np.ndarray[Any, Any],
    count: int,
    offset: int,
    rng: random.Random,
) -> int:
    """Add `count` chunks, each a blend of three sample sentences, in batches."""
    collection = k.collections.get(creator)
    step = 5_000
    for start in range(0, count, step):
        n = min(step, count - start)
        picks = [rng.sample(range(len(sentences)), 3) for _ in range(n)]
        blend = vectors[picks].sum(axis=1)
        blend /= np.linalg.norm(blend, axis=1, keepdims=True)
        ids = [f"bench-{offset + start + i}" for i in range(n)]
        collection.add(
            ids=ids,
            embeddings=blend,
            documents=[" ".join(sentences[j] for j in p) for p in picks],
            metadatas=[
                {
                    "creator_id": creator,
                    "entity_id": "bench",
                    "source": "bench",
                    "kind": "article",
                    "title": "bench",
                    "position": offset + start + i,
                }
                for i in range(n)
            ],
        )
        progress.print(f"  chunks: {offset + start + n:,}")
    k.collections.touch(creator)
    return count


BENCHMARKS = {
    "retrieval_quality": retrieval_quality,
    "ingest_throughput": ingest_throughput,
    "query_latency": query_latency,
}

__all__ = ["BENCHMARKS", "out"]
