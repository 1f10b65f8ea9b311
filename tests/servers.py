"""Throwaway servers for tests, on loopback only, started by the tests and stopped after.

PostgreSQL comes from the system's packages (`scripts/ensure-postgres` installs them).
As root, the server runs as the `postgres` user, since PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop(process: subprocess.Popen[bytes], timeout: float) -> None:
    """Terminate `process`, and kill it if it has not ended within `timeout` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def postgres_bin() -> Path | None:
    """The directory of the PostgreSQL server binaries, if they are installed."""
    initdb = shutil.which("initdb")
    if initdb:
        return Path(os.path.realpath(initdb)).parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


@dataclass
class Postgres:
    """A running PostgreSQL server; `new_database()` gives each test a database of its own."""

    port: int
    _names: Iterator[int] = field(default_factory=itertools.count)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        import psycopg

        name = f"one_test_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@contextmanager
def postgres() -> Iterator[Postgres]:
    """Start a PostgreSQL server in a temporary directory; stop and delete it after."""
    bindir = postgres_bin()
    if bindir is None:
        raise RuntimeError("PostgreSQL is not installed; run scripts/ensure-postgres")
    root = Path(tempfile.mkdtemp(prefix="one-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", free_port()

    def run(*args: str) -> None:
        subprocess.run([*as_user, *args], check=True, capture_output=True, cwd=root)

    try:
        run(
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
        )
        options = (
            f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        run(
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(root / "log"),
            "-w",
            "-t",
            "60",
            "start",
        )
        try:
            yield Postgres(port)
        finally:
            run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def chroma(path: Path | None = None, timeout: float = 60.0) -> Iterator[str]:
    """Start the Chroma server that chromadb ships (`chroma run`) on loopback, on the
    folder `path` (a new temporary one by default); yield its URL."""
    import sys
    import time
    import urllib.request

    binary = Path(sys.executable).parent / "chroma"
    root = Path(tempfile.mkdtemp(prefix="one-chroma-"))
    port = free_port()
    log = (root / "log").open("wb")
    server = subprocess.Popen(
        [
            str(binary),
            "run",
            "--path",
            str(path or root / "data"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1).close()
                break
            except OSError as e:
                if server.poll() is not None or time.monotonic() > deadline:
                    log_text = (root / "log").read_text()
                    raise RuntimeError(f"chroma did not start: {log_text}") from e
                time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def redis(timeout: float = 30.0) -> Iterator[str]:
    """Start `redis-server` from the system's packages on loopback, with no persistence;
    yield its URL (`scripts/ensure-redis` installs it)."""
    import time

    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed; run scripts/ensure-redis")
    root = Path(tempfile.mkdtemp(prefix="one-redis-"))
    port = free_port()
    options = ["--port", str(port), "--bind", "127.0.0.1", "--dir", str(root)]
    options += ["--save", "", "--appendonly", "no", "--protected-mode", "yes"]
    log = (root / "log").open("wb")
    server = subprocess.Popen([binary, *options], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        while not _answers_ping(port):
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis did not start: {(root / 'log').read_text()}")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop(server, timeout=10)
        log.close()
        shutil.rmtree(root, ignore_errors=True)


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False
