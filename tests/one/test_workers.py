"""`serve` with several worker processes (`one serve --workers N`), for real: a Chroma
server, two uvicorn workers on one socket, a fan whose turns land on either. Nothing of the
conversation is lost between them, a worker killed mid-way is replaced while the other
answers, and the server stops cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from one import _keys
from tests.one.conftest import make_one, with_maya
from tests.servers import free_port, stop

ROOT = Path(__file__).parents[2]
WORKERS = 2
QUESTIONS = [f"Question {n}: how salty should pasta water be?" for n in range(8)]


@pytest.fixture
def server(tmp_path: Path, chroma_url: str) -> Iterator[tuple[str, str, str, int]]:
    """Maya with her clone on a Chroma server; `serve` with two workers over it: the URL,
    Maya's id and key, and the server's pid."""
    data = tmp_path / "data"
    with make_one(data, chroma_url=chroma_url) as one:
        maya = with_maya(one)
        assert one.build_clone(maya).status == "completed"
        key = _keys.create(one.store, maya)[1]
    port = free_port()
    env = {**os.environ, "ONE_DATA_DIR": str(data), "ONE_CHROMA_URL": chroma_url}
    log_path = tmp_path / "server.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.one.serve_child", str(port), str(WORKERS)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            _wait(lambda: len(_workers(process.pid)) == WORKERS and _healthy(url), process, 120)
        except AssertionError as error:
            raise AssertionError(f"{error}: {log_path.read_text()[-3000:]}") from None
        yield url, maya, key, process.pid
    finally:
        stop(process, timeout=30)
        log.close()


def test_a_fans_turns_on_either_worker_keep_the_whole_conversation(
    server: tuple[str, str, str, int],
) -> None:
    url, maya, key, pid = server
    headers = {"Authorization": f"Bearer {key}"}
    first_workers = _workers(pid)
    runs = []
    for n, question in enumerate(QUESTIONS):
        if n == len(QUESTIONS) // 2:  # a worker dies; the other answers, and it is replaced
            os.kill(first_workers[0], signal.SIGKILL)
        with httpx.Client(base_url=url, headers=headers, timeout=60) as client:  # a new
            # connection each turn: the kernel hands it to either worker
            answer = client.post(
                f"/creators/{maya}/clone/chat", json={"fan": "sam", "message": question}
            )
        assert answer.status_code == 200, answer.text
        runs.append(answer.json()["run_id"])
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        last = client.get(f"/runs/{runs[-1]}").json()
    assert [m for m, _ in last["values"]["history"]] == QUESTIONS
    assert len(set(runs)) == len(QUESTIONS)
    # The killed worker is replaced (uvicorn's supervisor checks on its workers now and then).
    _wait(lambda: len(now := _workers(pid)) == WORKERS and first_workers[0] not in now, None, 60)


def test_the_server_stops_with_its_workers(
    server: tuple[str, str, str, int],
) -> None:
    url, _, _, pid = server
    workers = _workers(pid)
    os.kill(pid, signal.SIGTERM)
    _wait(lambda: not any(Path(f"/proc/{w}").exists() for w in workers), None, 30)
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url}/health", timeout=2)


def _workers(pid: int) -> list[int]:
    """The server's worker processes (multiprocessing's spawned children of `pid`)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            command = (stat.parent / "cmdline").read_bytes()
        except (OSError, ValueError):
            continue
        if parent == pid and b"spawn_main" in command:
            found.append(int(stat.parent.name))
    return sorted(found)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def _wait(
    ready: Callable[[], bool], process: subprocess.Popen[bytes] | None, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the server exited with {process.returncode}")
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
