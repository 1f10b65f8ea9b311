"""Contract: entities, on every backend."""

from __future__ import annotations

import pytest

from ontology import Store, every
from ontology.errors import (
    ConstraintViolationError,
    InvalidInputError,
    NotFoundError,
    UnknownTypeError,
)


def test_create_and_get(store: Store) -> None:
    made = store.entities.create("creator", "Ada", {"niche": "math"}, status="draft")
    got = store.entities.get(made.id)
    assert got == made
    assert (got.type, got.name, got.properties, got.status) == (
        "creator",
        "Ada",
        {"niche": "math"},
        "draft",
    )
    assert got.created_at == got.updated_at and got.deleted_at is None


def test_bad_input_is_refused_and_names_the_field(store: Store) -> None:
    with pytest.raises(UnknownTypeError, match="did you mean 'creator'"):
        store.entities.create("creater", "Ada")
    with pytest.raises(InvalidInputError, match="^status:"):
        store.entities.create("creator", "Ada", status="live")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="^name:"):
        store.entities.create("creator", "  ")
    assert store.entities.query().items == []


def test_a_taken_id_is_refused(store: Store) -> None:
    store.entities.create("creator", "Ada", id="ada")
    with pytest.raises(ConstraintViolationError, match="'ada' is taken"):
        store.entities.create("creator", "Other Ada", id="ada")
    assert store.entities.get("ada").name == "Ada"


def test_get_missing(store: Store) -> None:
    with pytest.raises(NotFoundError, match="no entity 'nope'"):
        store.entities.get("nope")


def test_query_by_type_and_status_with_paging(store: Store) -> None:
    made = [store.entities.create("video", f"v{i}", status="published") for i in range(7)]
    store.entities.create("video", "draft one", status="draft")
    store.entities.create("creator", "Ada")
    pages, cursor = [], None
    while True:
        page = store.entities.query("video", "published", limit=3, cursor=cursor)
        pages.append([e.name for e in page.items])
        cursor = page.next_cursor
        if cursor is None:
            break
    assert pages == [["v0", "v1", "v2"], ["v3", "v4", "v5"], ["v6"]]
    walked = every(store.entities.query, "video", "published", limit=3)  # the same, as one
    assert [e.name for e in walked] == [name for page in pages for name in page]
    assert [e.id for e in made] == [
        e.id for e in store.entities.query("video", "published", limit=10).items
    ]
    assert len(store.entities.query("video").items) == 8
    assert [e.name for e in store.entities.query(status="draft").items] == ["draft one"]


def test_query_by_owner(store: Store) -> None:
    ada, bo = (store.entities.create("creator", name) for name in ("Ada", "Bo"))
    mine = [store.entities.create("video", f"ada {i}") for i in range(3)]
    theirs = store.entities.create("video", "bo's")
    for video in mine:
        store.connections.connect(ada.id, video.id, "owns")
    store.connections.connect(bo.id, theirs.id, "owns")
    store.connections.connect(ada.id, theirs.id, "following")  # not ownership
    pages = [store.entities.query("video", owner=ada.id, limit=2)]
    pages.append(store.entities.query("video", owner=ada.id, cursor=pages[0].next_cursor))
    assert [e.id for p in pages for e in p.items] == [v.id for v in mine]
    assert store.entities.query(owner=bo.id).items == [theirs]
    assert store.entities.query("creator", owner=ada.id).items == []


def test_query_refuses_bad_arguments(store: Store) -> None:
    with pytest.raises(UnknownTypeError):
        store.entities.query("vidoe")
    with pytest.raises(InvalidInputError, match="^limit:"):
        store.entities.query(limit=0)
    with pytest.raises(InvalidInputError, match="^cursor:"):
        store.entities.query(cursor="garbage")


def test_patch_merges_properties_and_validates(store: Store) -> None:
    e = store.entities.create("creator", "Ada", {"niche": "math", "city": "London"})
    patched = store.entities.patch(
        e.id, {"city": None, "followers": 10}, name="Ada L.", status="inactive"
    )
    assert patched.properties == {"niche": "math", "followers": 10}
    assert (patched.name, patched.status) == ("Ada L.", "inactive")
    assert patched.updated_at >= e.updated_at
    assert store.entities.get(e.id) == patched
    with pytest.raises(InvalidInputError, match="^status:"):
        store.entities.patch(e.id, status="gone")  # type: ignore[arg-type]
    assert store.entities.get(e.id) == patched


def test_increment_counts_from_zero_and_refuses_what_is_not_a_count(store: Store) -> None:
    e = store.entities.create("creator", "Ada", {"niche": "math", "label": "x"})
    assert store.entities.increment(e.id, "views").properties["views"] == 1
    bumped = store.entities.increment(e.id, "views", by=4)
    assert bumped.properties == {"niche": "math", "label": "x", "views": 5}
    assert bumped.updated_at >= e.updated_at and store.entities.get(e.id) == bumped
    with pytest.raises(InvalidInputError, match="^label: is 'x', not a count"):
        store.entities.increment(e.id, "label")
    with pytest.raises(NotFoundError):
        store.entities.increment("nope", "views")
    assert store.entities.get(e.id) == bumped


def test_soft_delete_and_restore(store: Store) -> None:
    e = store.entities.create("video", "v")
    deleted = store.entities.delete(e.id)
    assert deleted.deleted_at is not None
    assert store.entities.delete(e.id) == deleted  # idempotent
    with pytest.raises(NotFoundError, match="restore it"):
        store.entities.get(e.id)
    assert store.entities.get(e.id, include_deleted=True).deleted_at is not None
    assert store.entities.query("video").items == []
    assert len(store.entities.query("video", include_deleted=True).items) == 1
    restored = store.entities.restore(e.id)
    assert restored.deleted_at is None
    assert store.entities.get(e.id).name == "v"


def test_find_is_get_without_the_error(store: Store) -> None:
    e = store.entities.create("video", "v")
    assert store.entities.find(e.id) == e
    assert store.entities.find("nope") is None
    store.entities.delete(e.id)
    assert store.entities.find(e.id) is None
    found = store.entities.find(e.id, include_deleted=True)
    assert found is not None and found.deleted_at is not None


def test_query_at_most_compares_a_numeric_property_on_every_backend(store: Store) -> None:
    later = 1_800_000_000_000  # epoch ms: beyond a 32-bit integer
    for name, at in (("soon", later - 1), ("now", later), ("later", later + 1)):
        store.entities.create("metric", name, {"nextRun": at})
    store.entities.create("metric", "none", {})
    due = store.entities.query("metric", at_most={"nextRun": later}).items
    assert sorted(e.name for e in due) == ["now", "soon"]
