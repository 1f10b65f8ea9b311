"""Contract: searching one creator's knowledge, and only theirs, on every Chroma mode."""

from __future__ import annotations

import gc
import random
import threading

import numpy as np
import pytest

from knowledge import Knowledge, Segment, Source
from knowledge._lexical import LexicalIndex
from knowledge._retriever import Mode
from knowledge.errors import IsolationError
from ontology import Store
from tests.knowledge.conftest import SAMPLE, count_lexical_indexes

RECIPES = {
    "brine": "Brine the chicken in a 3.5% salt solution for exactly two hours before roasting.",
    "pasta": "Fresh pasta needs 100 grams of flour and one egg per person, kneaded ten minutes.",
    "knife": "Hold the knife with a pinch grip and curl your fingertips into a claw.",
    "rice": "Rinse jasmine rice three times, then steam it with a 1:1.2 water ratio.",
    "dough": "Rest the sourdough for twelve hours in the fridge so its flavour deepens.",
}


def _source(key: str, text: str) -> Source:
    return Source(key=key, kind="text", title=key, segments=[Segment(text=text)])


@pytest.fixture
def recipes(knowledge: Knowledge, creator: str) -> Knowledge:
    knowledge.ingest_sources(creator, [_source(k, t) for k, t in RECIPES.items()])
    return knowledge


@pytest.mark.parametrize("mode", ["hybrid", "dense", "lexical"])
def test_each_mode_finds_the_passage(recipes: Knowledge, creator: str, mode: Mode) -> None:
    hits = recipes.retriever(creator).search("how long should I brine chicken", k=3, mode=mode)
    assert hits[0].chunk.source == "brine"
    assert hits[0].score == max(h.score for h in hits)
    assert all(h.chunk.creator_id == creator for h in hits)


def test_hits_carry_scores_and_provenance(recipes: Knowledge, creator: str) -> None:
    hit = recipes.retriever(creator).search("jasmine rice water ratio", k=1)[0]
    assert hit.chunk.source == "rice" and hit.chunk.position == 0
    assert hit.dense is not None and hit.lexical is not None and hit.lexical > 0
    assert hit.chunk.entity_id and hit.chunk.text == RECIPES["rice"]


def test_lexical_search_finds_exact_numbers(recipes: Knowledge, creator: str) -> None:
    hits = recipes.retriever(creator).search("1:1.2", k=1, mode="lexical")
    assert [h.chunk.source for h in hits] == ["rice"]
    assert recipes.retriever(creator).search("zeppelin", mode="lexical") == []
    assert recipes.retriever(creator).search("   ") == []


def test_min_score_drops_weak_hits(recipes: Knowledge, creator: str) -> None:
    retriever = recipes.retriever(creator)
    everything = retriever.search("sourdough fridge", k=5, mode="dense")
    strong = retriever.search("sourdough fridge", k=5, mode="dense", min_score=0.3)
    assert 0 < len(strong) < len(everything)
    assert all(h.score >= 0.3 for h in strong)


def test_mmr_trades_duplicates_for_variety(knowledge: Knowledge, creator: str) -> None:
    twins = [_source(f"brine-{i}", RECIPES["brine"] + f" Note {i}.") for i in range(4)]
    knowledge.ingest_sources(creator, [*twins, _source("rice", RECIPES["rice"])])
    retriever = knowledge.retriever(creator)
    plain = retriever.search("brine chicken salt rice", k=2, mode="dense")
    varied = retriever.search("brine chicken salt rice", k=2, mode="dense", mmr=True, diversity=0.7)
    assert all(h.chunk.source.startswith("brine") for h in plain)
    assert {h.chunk.source.split("-")[0] for h in varied} == {"brine", "rice"}


def test_a_retriever_cannot_be_pointed_at_another_creator(recipes: Knowledge, creator: str) -> None:
    retriever = recipes.retriever(creator)
    with pytest.raises(AttributeError):
        retriever.creator_id = "someone-else"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        retriever._creator_id2 = "x"  # type: ignore[attr-defined]  # no new attributes
    assert retriever.creator_id == creator


def test_a_foreign_chunk_is_never_returned(recipes: Knowledge, creator: str) -> None:
    # Plant a chunk claiming another creator directly in this creator's collection.
    recipes.collections.get(creator).add(
        ids=["planted"],
        documents=["Brine the chicken: SECRET of another creator."],
        embeddings=np.asarray(
            [recipes.embedder.embed_query("Brine the chicken: SECRET")], dtype=np.float32
        ),
        metadatas=[
            {
                "creator_id": "intruder",
                "entity_id": "x",
                "source": "x",
                "kind": "text",
                "title": "x",
                "position": 0,
            }
        ],
    )
    recipes.collections.touch(creator)
    with pytest.raises(IsolationError, match="'intruder'"):
        recipes.retriever(creator).search("brine the chicken secret", k=5)


def test_three_creators_never_see_each_others_content(knowledge: Knowledge, store: Store) -> None:
    creators = {name: store.entities.create("creator", name).id for name in ("ana", "bo", "cy")}
    canaries = {name: f"CANARY-{name.upper()}-{i}x{i * 7919}" for i, name in enumerate(creators)}
    rng = random.Random(11)
    sample = SAMPLE / "content" / "articles"
    texts = [p.read_text() for p in sorted(sample.glob("*.md"))]
    for name, creator_id in creators.items():
        sources = [
            _source(f"{name}-{i}", f"{text}\n\n{name} says: {canaries[name]}.")
            for i, text in enumerate(texts)
        ]
        knowledge.ingest_sources(creator_id, sources)
    queries = [line for text in texts for line in text.splitlines() if len(line.split()) > 4]
    foreign = 0
    for name, creator_id in creators.items():
        retriever = knowledge.retriever(creator_id)
        asks = [*canaries.values(), *(f"what does {n} say about {canaries[n]}" for n in creators)]
        asks += rng.sample(queries, min(len(queries), 120))
        for query in asks * 2:
            for mode in ("hybrid", "lexical"):
                for hit in retriever.search(query, k=5, mode=mode):
                    foreign += hit.chunk.creator_id != creator_id
                    foreign += any(c in hit.chunk.text for n, c in canaries.items() if n != name)
        own = retriever.search(canaries[name], k=1, mode="lexical")
        assert canaries[name] in own[0].chunk.text
    assert foreign == 0


def test_the_lexical_index_reads_a_large_collection_in_pages(
    recipes: Knowledge, creator: str
) -> None:
    retriever = recipes.retriever(creator)
    corpus = retriever._corpus(page=2)
    everything = recipes.collections.get(creator).get(include=["documents"])
    assert len(corpus.ids) == len(everything["ids"]) == len(RECIPES)
    assert sorted(corpus.ids) == sorted(everything["ids"])
    for id_, text in zip(everything["ids"], everything["documents"] or [], strict=True):
        assert corpus[id_].text == text
        assert corpus[id_].creator_id == creator


def test_the_lexical_index_holds_no_object_per_chunk_for_the_garbage_collector(
    recipes: Knowledge, creator: str
) -> None:
    """Its chunks stay in memory for the process's life: at 100k chunks, two objects
    apiece made each full collection walk them, some 0.2 s with every request waiting."""
    chunks = 600
    words = " ".join(f"word{i}" for i in range(50))
    texts = [f"Note {i}: {words}" for i in range(chunks)]
    recipes.ingest_sources(creator, [_source(f"n{i}", text) for i, text in enumerate(texts)])
    LexicalIndex(texts)  # the code paths warmed, and the stemmer's (bounded) cache of words
    retriever = recipes.retriever(creator)
    gc.collect()
    before = len(gc.get_objects())
    hits = retriever.search("word3 note", k=3, mode="lexical")  # the chunks read, indexed
    gc.collect()
    assert len(hits) == 3 and hits[0].chunk.text.startswith("Note")
    assert len(gc.get_objects()) - before < chunks // 4


def test_warming_builds_the_lexical_index_the_first_search_would_wait_for(
    recipes: Knowledge, creator: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = count_lexical_indexes(monkeypatch)
    retriever = recipes.retriever(creator)
    retriever.warm()
    assert built == [len(RECIPES)]
    hits = retriever.search("how long should I brine chicken", k=1, mode="lexical")
    assert hits[0].chunk.source == "brine"
    assert built == [len(RECIPES)]  # searched on the warm index, not a new one


def test_a_chunk_written_after_the_index_was_made_is_read_from_chroma(
    recipes: Knowledge, creator: str
) -> None:
    """A writer in another process, say, whose change this process has not seen yet: the
    dense ranking finds the chunk, and its text is read from Chroma for the hit."""
    retriever = recipes.retriever(creator)
    assert retriever.search("saffron", k=1, mode="lexical") == []  # the index is made
    text = "Bloom saffron threads in warm stock for ten minutes before the risotto."
    template = retriever.search("jasmine rice", k=1)[0].chunk
    late = template.model_copy(update={"id": f"{creator}-late", "source": "late", "text": text})
    recipes.collections.get(creator).upsert(
        ids=[late.id],
        documents=[text],
        metadatas=[late.metadata()],
        embeddings=np.asarray(recipes.embedder.embed_documents([text]), np.float32),
    )
    hit = retriever.search("saffron threads in warm stock", k=1)[0]
    assert hit.chunk == late and hit.dense is not None and hit.lexical is None


def test_openings_sample_each_kind_in_turn(knowledge: Knowledge, creator: str) -> None:
    long = " ".join(f"Sentence {i} about stock and soup." for i in range(200))
    knowledge.ingest_sources(
        creator,
        [
            _source("a-note", RECIPES["brine"]),
            _source("b-note", RECIPES["rice"]),
            Source(key="long", kind="article", title="long", segments=[Segment(text=long)]),
        ],
    )
    other = knowledge.store.entities.create("creator", "Other").id
    knowledge.ingest_sources(other, [_source("theirs", RECIPES["pasta"])])
    openings = knowledge.retriever(creator).openings(limit=2)
    assert [(c.kind, c.source, c.position) for c in openings] == [
        ("article", "long", 0),
        ("text", "a-note", 0),
    ]
    every = knowledge.retriever(creator).openings()
    assert sorted(c.source for c in every) == ["a-note", "b-note", "long"]


@pytest.mark.parametrize("change", ["touch", "drop"])
def test_a_version_read_while_the_chunks_change_is_not_kept(
    knowledge: Knowledge, creator: str, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    """A `version()` that read the collection just before a change (`touch()` or `drop()`,
    in another thread of the process) returns the version from before, and does not keep
    it: the next read sees the change at once, not `VERSION_MAX_AGE` later."""
    collections = knowledge.collections
    before = collections.version(creator)
    collections._versions.clear()  # the next version() reads the collection
    read = collections.client.get_collection

    def read_then_touched(name: str, **kwargs: object) -> object:
        found = read(name, **kwargs)  # type: ignore[arg-type]
        monkeypatch.setattr(collections.client, "get_collection", read)
        toucher = threading.Thread(target=getattr(collections, change), args=(creator,))
        toucher.start()  # the chunks change after the read, before the read is kept
        toucher.join()
        return found

    monkeypatch.setattr(collections.client, "get_collection", read_then_touched)
    assert collections.version(creator) == before  # read before the change
    after = collections.version(creator)
    assert after != before
    assert collections.version(creator) == after
