"""The processes of `one serve --workers N` hand chat turns to each other: a turn that
comes to a process whose gate is busy is answered by one whose gate is free.

Uvicorn's workers share one socket, but a connection stays with the process that
accepted it, and a fan's client keeps its connection. Each process answers its turns
one at a time (`graphs._gate`), so a turn that comes while its process is busy waits
there, though the other process may be idle. Measured on two cores: the slowest
twentieth of turns under 100 chats spent half their time so.

Each process publishes its gate's load (turns in it or waiting for it) in a one-byte
file and takes turns on a Unix socket, both in a folder that `serve` makes (readable
by its user only) and removes. A turn that finds its own gate busy goes to a process
whose gate is free, if there is one, and otherwise waits here as before. A process
that answers another's turn runs it through its own gate, as one of its own. Only
turns that are not streamed are handed over (a stream's pieces go to its reader as
they come).

Measured (`make bench`, 100 chats, two processes): a turn handed over took 20.9 ms at
the median, against 32.3 ms for one that waited in its own busy process.
"""

from __future__ import annotations

import contextlib
import importlib
import mmap
import os
import threading
import time
from multiprocessing.connection import Client, Connection, Listener
from pathlib import Path
from typing import Any

from graphs.clone import ChatTurn
from one._app import One

LOOK_AGAIN_AFTER = 1.0  # seconds before the folder is listed again for new processes


class PeerLostError(RuntimeError):
    """The process answering a handed-over turn stopped before it answered."""


class Peers:
    """This process's place among `serve`'s processes (see the module)."""

    def __init__(self, one: One, folder: Path, name: str | None = None) -> None:
        self._one, self._folder = one, folder
        self._name = name or str(os.getpid())  # the process's, unless a test's
        self._loads: dict[str, mmap.mmap] = {}  # other processes' loads, by name
        self._looked = 0.0
        self._listener: Listener | None = None
        self._board: mmap.mmap | None = None

    def start(self) -> None:
        """Publish this process's load and take other processes' turns."""
        board = self._folder / f"{self._name}.load"
        board.write_bytes(b"\0")
        with board.open("r+b") as file:
            self._board = mmap.mmap(file.fileno(), 1)
        self._one.runs.deps.gate.on_load = self._publish
        listener = Listener(str(self._socket(self._name)), family="AF_UNIX")
        self._listener = listener
        threading.Thread(target=self._take, args=(listener,), name="one-peers", daemon=True).start()

    def close(self) -> None:
        """Take no more turns (those being answered are) and publish no more."""
        self._one.runs.deps.gate.on_load = None
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):  # wakes `_take`, which then stops
                Client(str(self._socket(self._name)), family="AF_UNIX").close()
            listener.close()  # removes the socket's file
        with contextlib.suppress(FileNotFoundError):
            (self._folder / f"{self._name}.load").unlink()

    def chat(
        self, creator_id: str, handle: str, message: str, *, key: str | None = None
    ) -> ChatTurn:
        """`One.chat`, here if this process's gate is free, else in a process whose gate
        is (if none is, here once the turns before it are done)."""
        peer = self._free() if self._one.runs.deps.gate.load else None
        connection = self._reach(peer) if peer is not None else None
        if peer is None or connection is None:
            return self._one.chat(creator_id, handle, message, key=key)
        with connection:
            return self._hand(peer, connection, (creator_id, handle, message, key))

    # -- this process's side ---------------------------------------------------------

    def _publish(self, load: int) -> None:
        if self._board is not None:
            self._board[0] = min(load, 255)

    def _take(self, listener: Listener) -> None:
        while True:
            try:
                connection = listener.accept()
            except OSError:
                return
            if self._listener is not listener:  # `close` woke it
                connection.close()
                return
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection: Connection) -> None:
        with connection, contextlib.suppress(EOFError, OSError):  # the asker is gone
            creator_id, handle, message, key = connection.recv()
            reply: tuple[str, Any]
            try:
                reply = ("turn", self._one.chat(creator_id, handle, message, key=key))
            except Exception as error:  # handed back, to be raised there
                reply = ("error", _portable(error))
            try:
                connection.send(reply)
            except Exception as error:  # it would not pickle
                failed = RuntimeError(f"the answer could not be handed back: {error}")
                connection.send(("error", _portable(failed)))

    # -- the others' -----------------------------------------------------------------

    def _socket(self, name: str) -> Path:
        return self._folder / f"{name}.sock"

    def _free(self) -> str | None:
        """A process whose gate is free, if any."""
        now = time.monotonic()
        if now - self._looked > LOOK_AGAIN_AFTER:
            self._looked = now
            self._look()
        for name, load in list(self._loads.items()):  # threads of this process add some
            if load[0] == 0:
                return name
        return None

    def _look(self) -> None:
        for board in self._folder.glob("*.load"):
            name = board.stem
            if name == self._name or name in self._loads:
                continue
            with contextlib.suppress(OSError, ValueError), board.open("rb") as file:
                self._loads[name] = mmap.mmap(file.fileno(), 1, access=mmap.ACCESS_READ)

    def _reach(self, peer: str) -> Connection | None:
        """A connection to `peer`, or None (and it is forgotten) if it has gone."""
        try:
            return Client(str(self._socket(peer)), family="AF_UNIX")
        except OSError as error:  # no socket, or no one listening on it
            self._loads.pop(peer, None)  # not closed: another thread may be reading it
            if isinstance(error, ConnectionRefusedError):  # killed: its files stayed
                for stale in (self._socket(peer), self._folder / f"{peer}.load"):
                    stale.unlink(missing_ok=True)
            return None

    def _hand(self, peer: str, connection: Connection, call: tuple[Any, ...]) -> ChatTurn:
        try:
            connection.send(call)
            kind, value = connection.recv()
        except (EOFError, OSError):
            raise PeerLostError(
                f"the server process ({peer}) answering this turn stopped before it "
                "answered; send the turn again (with the same Idempotency-Key, it is not "
                "answered twice)"
            ) from None
        if kind == "error":
            raise _rebuilt(value)
        turn: ChatTurn = value
        return turn


def _portable(error: Exception) -> tuple[str, str, tuple[Any, ...], dict[str, Any]]:
    """An exception as what rebuilds it in another process: its class's place, its args
    and its attributes (unpickling an exception calls its `__init__` with its args,
    which ours with their own signatures refuse)."""
    kind = type(error)
    return kind.__module__, kind.__qualname__, error.args, dict(vars(error))


def _rebuilt(portable: tuple[str, str, tuple[Any, ...], dict[str, Any]]) -> Exception:
    module, name, args, attributes = portable
    try:
        kind: Any = importlib.import_module(module)
        for part in name.split("."):
            kind = getattr(kind, part)
        error: Exception = Exception.__new__(kind)
    except (ImportError, AttributeError, TypeError):  # not a class this process has
        return RuntimeError(f"{module}.{name}: {' '.join(str(a) for a in args)}")
    error.args = args
    vars(error).update(attributes)
    return error
