from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.servers import Postgres, chroma, postgres, postgres_bin


@pytest.fixture(autouse=True)
def _no_real_model_requests() -> Iterator[None]:
    """Tests never reach a real model unless they say so (`allow_model_requests()`)."""
    from agents import block_model_requests

    with block_model_requests():
        yield


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Postgres]:
    """A PostgreSQL server for the whole session. Skipped only outside CI when not installed."""
    if postgres_bin() is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed in CI; .ci/run must install it")
        pytest.skip("PostgreSQL is not installed (scripts/ensure-postgres installs it)")
    with postgres() as server:
        yield server


@pytest.fixture(scope="session")
def chroma_url() -> Iterator[str]:
    """A Chroma server (the one chromadb ships) on loopback for the whole session."""
    with chroma() as url:
        yield url
