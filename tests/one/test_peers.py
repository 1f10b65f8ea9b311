"""`serve`'s processes hand chat turns to each other (`one._peers`): a turn that comes
while its process's gate is busy is answered by a process whose gate is free.

Two ONEs in this process stand for two server processes, each on its own copy of the
data, so the store a turn's run is in says which one answered it.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Listener
from pathlib import Path
from typing import TypeVar

import pytest
from fastapi.testclient import TestClient

from graphs.clone import ChatTurn
from one import _keys
from one._app import One
from one._peers import PeerLostError, Peers
from one._server import create_app
from ontology.errors import InvalidInputError, NotFoundError
from tests.one.conftest import make_one, with_maya

T = TypeVar("T")
QUESTION = "How do I start with watercolor?"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A data folder with Maya, her content and her clone; and her creator id."""
    data = tmp_path_factory.mktemp("peers") / "data"
    with make_one(data) as one:
        maya = with_maya(one)
        assert one.build_clone(maya).status == "completed"
    return data, maya


@dataclass
class Two:
    a: One
    b: One
    peers_a: Peers
    peers_b: Peers
    folder: Path
    maya: str


@pytest.fixture
def two(built: tuple[Path, str], tmp_path: Path) -> Iterator[Two]:
    data, maya = built
    folder = tmp_path / "peers"
    folder.mkdir()
    with (
        make_one(shutil.copytree(data, tmp_path / "a")) as a,
        make_one(shutil.copytree(data, tmp_path / "b")) as b,
    ):
        peers_a, peers_b = Peers(a, folder, name="a"), Peers(b, folder, name="b")
        peers_a.start()
        peers_b.start()
        try:
            yield Two(a, b, peers_a, peers_b, folder, maya)
        finally:
            peers_a.close()
            peers_b.close()


@contextlib.contextmanager
def busy(one: One) -> Iterator[None]:
    """A turn holds `one`'s gate for the block."""
    inside, leave = threading.Event(), threading.Event()

    def hold() -> None:
        with one.runs.deps.gate.through():
            inside.set()
            leave.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    assert inside.wait(5)
    try:
        yield
    finally:
        leave.set()
        holder.join(5)


def within(seconds: float, call: Callable[[], T]) -> T:
    """`call`'s result, or TimeoutError if it takes longer (it would wait forever
    behind a gate held until it returns)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(call).result(timeout=seconds)


def ran_in(one: One, turn: ChatTurn) -> bool:
    try:
        one.runs.get(turn.run.id)
    except NotFoundError:
        return False
    return True


def test_a_turn_that_comes_while_its_process_is_busy_is_answered_by_a_free_one(
    two: Two,
) -> None:
    with busy(two.a):  # until it returns: answered here, it would never end
        turn = within(30, lambda: two.peers_a.chat(two.maya, "fan", QUESTION))
    assert turn.text and turn.sources
    assert ran_in(two.b, turn) and not ran_in(two.a, turn)
    assert two.b.runs.get(turn.run.id).status == "completed"


def test_a_turn_that_comes_while_its_process_is_free_is_answered_there(two: Two) -> None:
    turn = two.peers_a.chat(two.maya, "fan", QUESTION)
    assert ran_in(two.a, turn) and not ran_in(two.b, turn)


def test_when_every_process_is_busy_a_turn_waits_in_its_own(two: Two) -> None:
    with ThreadPoolExecutor(1) as pool:
        with busy(two.a), busy(two.b):
            waiting = pool.submit(two.peers_a.chat, two.maya, "fan", QUESTION)
            with pytest.raises(TimeoutError):
                waiting.result(timeout=0.3)  # behind the turn holding a's gate
        turn = waiting.result(timeout=30)
    assert ran_in(two.a, turn) and not ran_in(two.b, turn)


def test_an_error_in_the_process_that_answered_is_raised_here_as_itself(two: Two) -> None:
    with busy(two.a), pytest.raises(InvalidInputError) as refused:
        within(30, lambda: two.peers_a.chat(two.maya, "fan", "   "))
    assert refused.value.field == "message"  # its attributes came too
    assert "say something" in str(refused.value)


def test_a_process_that_has_gone_is_forgotten_and_the_turn_answered_here(two: Two) -> None:
    with busy(two.a):  # a learns of b: a turn goes there
        assert ran_in(two.b, within(30, lambda: two.peers_a.chat(two.maya, "fan", QUESTION)))
    two.peers_b.close()  # b stops: its socket is gone, its last load read 0
    with ThreadPoolExecutor(1) as pool:
        with busy(two.a):
            waiting = pool.submit(two.peers_a.chat, two.maya, "fan", QUESTION)
            with pytest.raises(TimeoutError):
                waiting.result(timeout=0.3)  # b refused it: it waits here
        turn = waiting.result(timeout=30)
    assert ran_in(two.a, turn) and not ran_in(two.b, turn)


@contextlib.contextmanager
def dying_peer(folder: Path) -> Iterator[list[object]]:
    """A process that takes a turn and stops before answering; what it was sent."""
    received: list[object] = []
    listener = Listener(str(folder / "c.sock"), family="AF_UNIX")
    (folder / "c.load").write_bytes(b"\0")

    def take() -> None:
        with listener.accept() as connection:
            received.append(connection.recv())  # then gone, without a word

    taker = threading.Thread(target=take, daemon=True)
    taker.start()
    try:
        yield received
    finally:
        listener.close()
        taker.join(5)


def test_a_process_killed_is_forgotten_and_its_files_removed(two: Two) -> None:
    """A process killed leaves its socket's file, with no one listening on it, and its
    load as it was; the first turn that tries it answers here and removes them."""
    (two.folder / "c.load").write_bytes(b"\0")
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(str(two.folder / "c.sock"))
    dead.close()  # bound, never listening: as a killed process's socket
    with ThreadPoolExecutor(1) as pool:
        with busy(two.a), busy(two.b):
            waiting = pool.submit(two.peers_a.chat, two.maya, "fan", QUESTION)
            with pytest.raises(TimeoutError):
                waiting.result(timeout=0.3)  # c refused it: it waits here
        turn = waiting.result(timeout=30)
    assert ran_in(two.a, turn)
    assert sorted(p.name for p in two.folder.iterdir()) == ["a.load", "a.sock", "b.load", "b.sock"]


def test_a_process_that_stops_while_answering_is_a_clear_error(two: Two) -> None:
    with (
        dying_peer(two.folder) as received,
        busy(two.a),
        busy(two.b),
        pytest.raises(PeerLostError, match="send the turn again"),
    ):
        within(30, lambda: two.peers_a.chat(two.maya, "fan", QUESTION, key="k-1"))
    assert received == [(two.maya, "fan", QUESTION, "k-1")]


def test_the_server_answers_a_lost_turn_with_503_and_retry_after(two: Two) -> None:
    key = _keys.create(two.a.store, two.maya)[1]
    two.peers_a.close()  # started again by the app, as in a server process
    app = create_app(two.a, peers=two.peers_a)
    body = {"model": "maya-lin", "user": "fan", "messages": [{"role": "user", "content": QUESTION}]}
    with TestClient(app) as client, dying_peer(two.folder), busy(two.a), busy(two.b):
        response = within(
            30,
            lambda: client.post(
                "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}
            ),
        )
    assert response.status_code == 503
    assert "send the turn again" in response.json()["detail"]
    assert response.headers["Retry-After"] == "1"
