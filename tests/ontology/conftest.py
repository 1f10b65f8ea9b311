from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ontology import Store

BACKENDS = ["memory", "sqlite", "postgres"]


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database on each backend in turn."""
    if request.param == "memory":
        return "sqlite://"
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'one.db'}"
    return str(request.getfixturevalue("pg_server").new_database())


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with Store.open(store_url) as s:
        yield s


@pytest.fixture
def creator(store: Store) -> str:
    return store.entities.create("creator", "Ada").id


@pytest.fixture(params=["sqlite", "postgres"])
def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database that several connections (threads, processes) can share."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'one.db'}"
    return str(request.getfixturevalue("pg_server").new_database())
