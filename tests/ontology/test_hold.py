"""`Store.hold`: one holder of a name at a time across every process on the database,
released at the end of the block or when the holder dies."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from ontology import Store
from tests.servers import Postgres

HOLDER = textwrap.dedent(
    """
    import sys, time
    from ontology import Store
    store = Store.open(sys.argv[1])
    with store.hold("drive:run-1") as mine:
        print("held" if mine else "refused", flush=True)
        time.sleep(60)
    """
)


def _holder(url: str) -> subprocess.Popen[str]:
    child = subprocess.Popen([sys.executable, "-c", HOLDER, url], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "held"
    return child


def _check_release_on_death(url: str) -> None:
    with Store.open(url) as store:
        child = _holder(url)
        try:
            with store.hold("drive:run-1") as mine:
                assert not mine  # another process holds it
            with store.hold("drive:run-2") as mine:
                assert mine  # other names are free
        finally:
            child.kill()  # dies holding it: the hold goes with it
            child.wait()
            assert child.stdout is not None
            child.stdout.close()
        for _ in range(50):
            with store.hold("drive:run-1") as mine:
                if mine:
                    break
            time.sleep(0.1)
        assert mine


def test_a_sqlite_hold_is_exclusive_across_processes_and_dies_with_its_holder(
    tmp_path: Path,
) -> None:
    _check_release_on_death(f"sqlite:///{tmp_path / 'one.db'}")


@pytest.mark.slow
def test_a_postgres_hold_is_an_advisory_lock_that_dies_with_its_holder(
    pg_server: Postgres,
) -> None:
    _check_release_on_death(pg_server.new_database())


def test_in_memory_holds_are_exclusive_within_the_process_and_released_after() -> None:
    with Store.open("sqlite://") as store:
        with store.hold("x") as first, store.hold("x") as second:
            assert (first, second) == (True, False)
        with store.hold("x") as again:
            assert again


def test_sqlite_holds_share_one_file_and_refuse_a_second_thread(tmp_path: Path) -> None:
    """A hold is a lock on a byte of `one.db.holds`: holding thousands of names (one per
    run) leaves one file, not one per name; the process's own threads exclude each other."""
    with Store.open(f"sqlite:///{tmp_path / 'one.db'}") as store:
        for n in range(2_000):
            with store.hold(f"drive:{n}") as mine:
                assert mine
        seen: list[bool] = []
        with store.hold("drive:x") as first:
            worker = threading.Thread(target=lambda: seen.append(_try(store, "drive:x")))
            worker.start()
            worker.join()
        assert (first, seen) == (True, [False])
        assert _try(store, "drive:x")  # given back at the end of the block
    beside = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("one.db."))
    assert "one.db.holds" in beside
    assert not any(p.is_dir() for p in tmp_path.iterdir())


def _try(store: Store, name: str) -> bool:
    with store.hold(name) as mine:
        return mine


def test_one_file_s_holds_are_shared_however_its_path_is_spelled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with (
        Store.open(f"sqlite:///{tmp_path / 'one.db'}") as absolute,
        Store.open("sqlite:///one.db") as relative,
        absolute.hold("drive:x") as first,
    ):
        seen: list[bool] = []
        worker = threading.Thread(target=lambda: seen.append(_try(relative, "drive:x")))
        worker.start()
        worker.join()
    assert (first, seen) == (True, [False])
