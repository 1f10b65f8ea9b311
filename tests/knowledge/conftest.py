from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from knowledge import Embedder, FakeEmbedder, Knowledge
from knowledge._lexical import LexicalIndex
from ontology import Store

BACKENDS = ["memory", "disk", "server"]
SAMPLE = Path(__file__).parents[2] / "one" / "_samples" / "maya"

MakeKnowledge = Callable[..., Knowledge]


def count_lexical_indexes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The sizes (chunks) of the lexical indexes retrievers build from now on, in order."""
    built: list[int] = []

    class Counted(LexicalIndex):
        def __init__(self, texts: list[str]) -> None:
            built.append(len(texts))
            super().__init__(texts)

    monkeypatch.setattr("knowledge._retriever.LexicalIndex", Counted)
    return built


@pytest.fixture
def store() -> Iterator[Store]:
    with Store.open("sqlite://") as s:
        yield s


@pytest.fixture(params=BACKENDS)
def make_knowledge(request: pytest.FixtureRequest, store: Store, tmp_path: Path) -> MakeKnowledge:
    """Builds `Knowledge` on each Chroma mode in turn (in memory, on disk, a server).

    Every Knowledge a test builds shares that test's Chroma and namespace.
    """
    namespace = f"t{uuid.uuid4().hex[:12]}"  # in-memory and server Chroma outlive a test
    where: dict[str, Any] = {}
    if request.param == "disk":
        where["path"] = tmp_path / "chroma"
    elif request.param == "server":
        where["url"] = request.getfixturevalue("chroma_url")

    def make(embedder: Embedder | None = None, **options: Any) -> Knowledge:
        return Knowledge(
            store, embedder=embedder or FakeEmbedder(), namespace=namespace, **where, **options
        )

    return make


@pytest.fixture
def knowledge(make_knowledge: MakeKnowledge) -> Knowledge:
    return make_knowledge()


@pytest.fixture
def creator(store: Store) -> str:
    return store.entities.create("creator", "Maya Lin").id
