"""Contract: tags, on every backend."""

from __future__ import annotations

import pytest

from ontology import Store
from ontology.errors import DuplicateTagError, InvalidInputError, NotFoundError


def test_add_find_and_remove(store: Store, creator: str) -> None:
    video = store.entities.create("video", "v").id
    tag = store.tags.add(creator, "cooking", category="topic", color="#f80")
    assert (tag.name, tag.category, tag.color, tag.usage_count) == ("cooking", "topic", "#f80", 1)
    assert store.tags.add(video, "cooking").usage_count == 2
    store.tags.add(video, "beginner", category="audience")
    assert [t.name for t in store.tags.of(video)] == ["beginner", "cooking"]
    assert [e.id for e in store.tags.entities("cooking")] == [creator, video]
    store.tags.remove(creator, "cooking")
    assert [e.id for e in store.tags.entities("cooking")] == [video]
    assert store.tags.get("cooking").usage_count == 1
    store.entities.delete(video)
    assert store.tags.entities("cooking") == []
    assert len(store.tags.entities("cooking", include_deleted=True)) == 1


def test_a_duplicate_tag_is_refused_and_counts_stay_right(store: Store, creator: str) -> None:
    store.tags.add(creator, "cooking")
    with pytest.raises(DuplicateTagError, match="already has tag 'cooking'"):
        store.tags.add(creator, "cooking")
    assert store.tags.get("cooking").usage_count == 1
    assert len(store.tags.of(creator)) == 1


def test_bad_tags(store: Store, creator: str) -> None:
    with pytest.raises(NotFoundError, match="no entity 'ghost'"):
        store.tags.add("ghost", "cooking")
    with pytest.raises(InvalidInputError, match="^category:"):
        store.tags.add(creator, "cooking", category="vibe")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="^name:"):
        store.tags.add(creator, "")
    with pytest.raises(NotFoundError, match="does not carry it"):
        store.tags.remove(creator, "cooking")
    with pytest.raises(NotFoundError, match="no tag 'cooking'"):
        store.tags.get("cooking")
    assert store.tags.of(creator) == []
