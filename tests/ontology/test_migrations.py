"""The migrations build exactly the tables the models describe, once, however many open."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

from ontology import Store, _migrate
from ontology._database import Database


def test_migrated_schema_equals_the_models(store_url: str) -> None:
    with Store.open(store_url) as store, store._scope.db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == []


def test_the_database_records_its_revision_and_reopening_changes_nothing(store_url: str) -> None:
    with Store.open(store_url) as store:
        db = store._scope.db
        assert _migrate.current(db) == _migrate.head() == "0001_initial"
        ada = store.entities.create("creator", "Ada")
        _migrate.upgrade(db)
        assert store.entities.get(ada.id) == ada


def test_opening_without_migrating_leaves_an_empty_database_empty(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'one.db'}"
    Store.open(url, migrate=False).close()
    db = Database.connect(url)
    assert _migrate.current(db) is None
    db.close()


def test_many_first_opens_at_once_migrate_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'one.db'}"
    with ThreadPoolExecutor(6) as pool:
        stores = list(pool.map(lambda _: Store.open(url), range(6)))
    assert {_migrate.current(s._scope.db) for s in stores} == {"0001_initial"}
    for s in stores:
        s.close()


def test_migrate_command(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'one.db'}"
    done = subprocess.run(
        [sys.executable, "-m", "ontology", "migrate", url],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip().endswith("empty -> 0001_initial")
    usage = subprocess.run([sys.executable, "-m", "ontology"], capture_output=True, text=True)
    assert usage.returncode == 2 and "usage" in usage.stderr
