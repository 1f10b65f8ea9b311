"""The SQLite checkpointer's set-up when other processes set up the same new file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from langgraph.checkpoint.sqlite import SqliteSaver

from graphs import _checkpoint, checkpointer


class _Refused(SqliteSaver):
    """A saver whose set-up SQLite refuses `times` times, as it does while another process
    switches the same new file to WAL."""

    def __init__(self, conn: sqlite3.Connection, times: int, error: str) -> None:
        super().__init__(conn)
        self.left, self.error, self.tries = times, error, 0

    def setup(self) -> None:
        self.tries += 1
        if self.left:
            self.left -= 1
            raise sqlite3.OperationalError(self.error)
        super().setup()


def test_set_up_is_tried_again_while_another_process_holds_the_new_file(
    tmp_path: Path,
) -> None:
    with sqlite3.connect(tmp_path / "c.db", check_same_thread=False) as conn:
        saver = _Refused(conn, 3, "database is locked")
        _checkpoint._set_up(saver, wait=30)
        assert saver.tries == 4 and saver.is_setup


def test_another_set_up_error_is_not_tried_again(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "c.db", check_same_thread=False) as conn:
        saver = _Refused(conn, 1, "disk I/O error")
        with pytest.raises(sqlite3.OperationalError, match="disk I/O error"):
            _checkpoint._set_up(saver, wait=30)
        assert saver.tries == 1


def test_a_lock_held_past_the_wait_is_reported(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "c.db", check_same_thread=False) as conn:
        saver = _Refused(conn, 10_000, "database is locked")
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            _checkpoint._set_up(saver, wait=0.2)
        assert saver.tries > 1


def test_the_checkpointer_sets_up_a_new_file_in_wal_mode(tmp_path: Path) -> None:
    with checkpointer(f"sqlite:///{tmp_path / 'new' / 'c.db'}") as saver:
        assert isinstance(saver, SqliteSaver)
        assert saver.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
