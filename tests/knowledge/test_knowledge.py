"""Contract: ingesting, re-ingesting, changing and deleting sources, on every Chroma mode."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from knowledge import FakeEmbedder, Knowledge, Progress, source_entity_id
from knowledge.errors import ConfigurationError, EmbedderMismatchError, SourceError
from ontology import Store, every
from ontology.errors import NotFoundError
from tests.knowledge.conftest import SAMPLE, MakeKnowledge

CONTENT = SAMPLE / "content"


@pytest.fixture
def content(tmp_path: Path) -> Path:
    """A copy of the sample creator's content that a test may change."""
    return Path(shutil.copytree(CONTENT, tmp_path / "content"))


def _chunk_ids(k: Knowledge, creator: str, source: str) -> set[str]:
    return set(k.collections.get(creator).get(where={"source": source}, include=[])["ids"])


def test_ingesting_a_directory_records_every_source(
    knowledge: Knowledge, store: Store, creator: str, content: Path
) -> None:
    seen: list[Progress] = []
    report = knowledge.ingest(creator, content, on_progress=seen.append)
    assert report.ok and report.updated == [] and report.unchanged == []
    assert len(report.added) == 4 + 5 + 3 + 12 + 8  # videos, audio, articles, posts, Q&As
    assert report.chunks_written == knowledge.count(creator) > len(report.added)
    assert [p.done for p in seen] == list(range(1, len(seen) + 1))
    assert seen[-1].total == len(seen) == 5 + 4 + 3 + 2  # files: audio, video, md, json
    owned = store.connections.query(from_id=creator, type="owns", limit=1000).items
    kinds = sorted(store.entities.get(c.to_id).type for c in owned)
    assert kinds.count("video") == 4 and kinds.count("podcast") == 5
    assert kinds.count("blog_post") == 3 and kinds.count("social_post") == 12
    uploaded = store.events.timeline(actor_id=creator, type="content_uploaded", limit=1000)
    assert len(uploaded.items) == len(report.added)


def test_reingesting_the_same_content_writes_nothing(
    make_knowledge: MakeKnowledge, store: Store, creator: str, content: Path
) -> None:
    embedder = FakeEmbedder()
    knowledge = make_knowledge(embedder)
    first = knowledge.ingest(creator, content)
    calls, events = embedder.calls, len(store.events.timeline(limit=1000).items)
    again = knowledge.ingest(creator, content)
    assert again.added == again.updated == [] and len(again.unchanged) == len(first.added)
    assert again.chunks_written == again.chunks_removed == 0
    assert embedder.calls == calls
    assert len(store.events.timeline(limit=1000).items) == events


def test_a_changed_source_replaces_exactly_its_changed_chunks(
    make_knowledge: MakeKnowledge, store: Store, creator: str, content: Path
) -> None:
    embedder = FakeEmbedder()
    knowledge = make_knowledge(embedder, chunk_tokens=80, overlap_tokens=0)
    article = content / "articles" / "soggy-stir-fry.md"
    knowledge.ingest(creator, content)
    key = str(article.resolve())
    before = _chunk_ids(knowledge, creator, key)
    others = knowledge.count(creator) - len(before)
    text = article.read_text()
    last = text.rstrip().rsplit("\n\n", 1)[-1]
    article.write_text(text.replace(last, "A brand new closing paragraph about woks."))
    calls = embedder.calls
    report = knowledge.ingest(creator, article)
    after = _chunk_ids(knowledge, creator, key)
    assert report.updated == [key]
    assert 0 < len(after - before) == report.chunks_written < len(after)
    assert len(before - after) == report.chunks_removed > 0
    assert embedder.calls - calls == report.chunks_written  # only the new chunks embedded
    assert knowledge.count(creator) == others + len(after)
    entity = source_entity_id(creator, key)
    changed = store.events.timeline(target_id=entity, type="content_changed").items
    assert [e.metadata["action"] for e in changed] == ["updated"]


def test_deleting_a_source_removes_its_chunks(
    knowledge: Knowledge, store: Store, creator: str, content: Path
) -> None:
    video = str((content / "videos" / "knife-skills.vtt").resolve())
    knowledge.ingest(creator, content)
    total, mine = knowledge.count(creator), len(_chunk_ids(knowledge, creator, video))
    assert knowledge.delete(creator, video) == mine > 0
    assert knowledge.count(creator) == total - mine
    entity = source_entity_id(creator, video)
    with pytest.raises(NotFoundError, match="deleted"):
        store.entities.get(entity)
    assert knowledge.delete(creator, video) == 0  # idempotent
    deleted = store.events.timeline(target_id=entity, type="content_changed").items
    assert [e.metadata["action"] for e in deleted] == ["deleted"]
    knowledge.ingest(creator, content / "videos" / "knife-skills.vtt")  # and back again
    assert store.entities.get(entity).deleted_at is None
    assert knowledge.count(creator) == total


FILES = 4 + 5 + 3  # videos, audio, articles: keyed by their path (posts and Q&As by id)


def test_content_moved_is_recorded_where_it_is_now_not_ingested_beside_itself(
    knowledge: Knowledge, store: Store, creator: str, content: Path, tmp_path: Path
) -> None:
    """The folder moves (or the repository it is in): its files are the sources they were,
    at their new paths; no passage is stored twice."""
    first = knowledge.ingest(creator, content)
    total = knowledge.count(creator)
    moved = Path(shutil.move(content, tmp_path / "elsewhere")).resolve()
    report = knowledge.ingest(creator, moved)
    assert report.added == report.updated == [] and len(report.moved) == FILES
    assert len(report.unchanged) == len(first.added) - FILES
    assert knowledge.count(creator) == total
    for new, old in report.moved.items():
        assert Path(new).is_relative_to(moved) and not Path(new).is_relative_to(content)
        assert Path(old).is_relative_to(content.resolve())
        assert _chunk_ids(knowledge, creator, old) == set() != _chunk_ids(knowledge, creator, new)
        with pytest.raises(NotFoundError, match="deleted"):
            store.entities.get(source_entity_id(creator, old))
        entity = source_entity_id(creator, new)
        uploaded = store.events.timeline(target_id=entity, type="content_uploaded").items
        assert [e.metadata["movedFrom"] for e in uploaded] == [old]
    hits = knowledge.retriever(creator).search("knife skills", k=20)
    paths = [h.chunk.source for h in hits if h.chunk.source.startswith("/")]
    assert paths and all(Path(p).is_relative_to(moved) for p in paths)
    again = knowledge.ingest(creator, moved)
    assert again.moved == {} and len(again.unchanged) == len(first.added)


def test_a_copy_beside_its_original_is_a_source_of_its_own(
    knowledge: Knowledge, creator: str, content: Path, tmp_path: Path
) -> None:
    knowledge.ingest(creator, content)
    copy = shutil.copytree(content / "articles", tmp_path / "copy")
    report = knowledge.ingest(creator, copy)
    assert len(report.added) == 3 and report.moved == {}


def test_a_move_stopped_half_way_is_finished_by_ingesting_again(
    knowledge: Knowledge,
    store: Store,
    creator: str,
    content: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Stopped after the old path's source is removed, before the new one is recorded:
    nothing is lost, and the next ingest records it."""
    knowledge.ingest(creator, content / "articles")
    total = knowledge.count(creator)
    moved = Path(shutil.move(content / "articles", tmp_path / "articles")).resolve()

    def crash(*args: object) -> None:
        raise RuntimeError("stopped")

    monkeypatch.setattr(Knowledge, "_record", crash)
    with pytest.raises(RuntimeError, match="stopped"):
        knowledge.ingest(creator, moved)
    monkeypatch.undo()
    report = knowledge.ingest(creator, moved)
    assert len(report.added) + len(report.moved) == 3
    assert knowledge.count(creator) == total
    live = [e for e in every(store.entities.query, owner=creator, limit=500)]
    assert sorted(str(e.properties["source"]) for e in live) == sorted(
        str(p) for p in moved.iterdir()
    )


def test_a_bad_file_in_a_directory_does_not_stop_the_others(
    knowledge: Knowledge, creator: str, tmp_path: Path
) -> None:
    (tmp_path / "good.md").write_text("# Good\n\nFine content.")
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe not utf8")
    (tmp_path / "empty.txt").write_text("")
    report = knowledge.ingest(creator, tmp_path)
    assert not report.ok
    assert sorted(Path(p).name for p in report.failed) == ["bad.txt", "empty.txt"]
    assert "not valid UTF-8" in report.failed[str(tmp_path / "bad.txt")]
    assert [Path(p).name for p in report.added] == ["good.md"]
    with pytest.raises(SourceError, match="not valid UTF-8"):
        knowledge.ingest(creator, tmp_path / "bad.txt")
    with pytest.raises(SourceError, match="no such file"):
        knowledge.ingest(creator, tmp_path / "missing.md")


def test_an_interrupted_ingest_is_finished_by_running_it_again(
    make_knowledge: MakeKnowledge,
    store: Store,
    creator: str,
    content: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    embedder = FakeEmbedder()
    knowledge = make_knowledge(embedder)
    real, calls = Knowledge._record, {"n": 0}

    def crash_on_the_third(self: Knowledge, *args: object, **kwargs: object) -> None:
        calls["n"] += 1
        if calls["n"] == 3:  # chunks of this source are in Chroma; the ontology is not
            raise KeyboardInterrupt
        real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Knowledge, "_record", crash_on_the_third)
    with pytest.raises(KeyboardInterrupt):
        knowledge.ingest(creator, content)
    monkeypatch.setattr(Knowledge, "_record", real)
    stored, embedded = knowledge.count(creator), embedder.calls
    report = knowledge.ingest(creator, content)
    assert report.ok and len(report.unchanged) == 2  # the two recorded before the crash
    total = knowledge.count(creator)
    assert 0 < stored < total
    assert embedder.calls - embedded == total - stored  # nothing stored is embedded again
    uploads = store.events.timeline(actor_id=creator, type="content_uploaded", limit=1000)
    assert len(uploads.items) == len(report.added) + 2  # each source recorded once
    twin = make_knowledge(FakeEmbedder())
    assert twin.ingest(store.entities.create("creator", "Twin").id, content).chunks_written == total


def test_a_collection_refuses_another_embedder(
    make_knowledge: MakeKnowledge, creator: str, content: Path
) -> None:
    make_knowledge(FakeEmbedder(64)).ingest(creator, content / "articles")
    other = make_knowledge(FakeEmbedder(128))
    with pytest.raises(EmbedderMismatchError, match=r"fake-hash-64 \(64 dims\).*fake-hash-128"):
        other.retriever(creator).search("pasta")
    with pytest.raises(EmbedderMismatchError):
        other.ingest(creator, content / "articles")
    other.reset(creator)  # the remedy the error names
    assert other.ingest(creator, content / "articles").ok


def test_knowledge_belongs_to_creators(knowledge: Knowledge, store: Store, content: Path) -> None:
    fan = store.entities.create("audience_member", "Sam").id
    with pytest.raises(ConfigurationError, match="not a creator"):
        knowledge.ingest(fan, content / "articles")
    with pytest.raises(NotFoundError):
        knowledge.retriever("nobody")


def test_record_fields_cannot_replace_the_provenance_one_keeps(
    knowledge: Knowledge, store: Store, creator: str
) -> None:
    record = {
        "id": "p1",
        "text": "Brine at 2%.",
        "source": "instagram",
        "kind": "reel",
        "contentHash": "forged",
        "likes": 12,
    }
    knowledge.ingest_records(creator, "post", [record])
    entity = store.entities.get(source_entity_id(creator, "record:post:p1"))
    assert entity.properties["source"] == "record:post:p1"
    assert entity.properties["kind"] == "post" and entity.properties["likes"] == 12
    assert knowledge.ingest_records(creator, "post", [record]).unchanged == ["record:post:p1"]


def test_a_record_file_with_nan_is_refused_and_the_rest_ingested(
    knowledge: Knowledge, creator: str, tmp_path: Path
) -> None:
    (tmp_path / "posts.json").write_text('[{"id": "p1", "text": "Hello", "likes": NaN}]')
    (tmp_path / "good.md").write_text("# Good\n\nFine.")
    report = knowledge.ingest(creator, tmp_path)
    assert "plain JSON" in report.failed[str(tmp_path / "posts.json")]
    assert [Path(p).name for p in report.added] == ["good.md"]


def test_one_key_twice_in_an_ingest_keeps_the_last(knowledge: Knowledge, creator: str) -> None:
    records = [{"id": "d1", "text": "First version."}, {"id": "d1", "text": "Second version."}]
    report = knowledge.ingest_records(creator, "post", records)
    assert report.added == ["record:post:d1"]
    assert knowledge.retriever(creator).search("version", k=5)[0].chunk.text == "Second version."
    twice = knowledge.ingest_records(creator, "post", [records[1], records[1]])
    assert twice.unchanged == ["record:post:d1"]


def test_searching_a_creator_with_nothing_ingested_finds_nothing(
    knowledge: Knowledge, creator: str
) -> None:
    for mode in ("lexical", "dense", "hybrid"):
        assert knowledge.retriever(creator).search("anything", mode=mode) == []
    knowledge.reset(creator)
    assert knowledge.retriever(creator).search("anything", mode="lexical") == []
    with pytest.raises(ValueError, match="k must be 1 or more"):
        knowledge.retriever(creator).search("anything", k=0)
