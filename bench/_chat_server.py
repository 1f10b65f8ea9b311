"""ONE's server for the chat benchmark, in a process of its own as `one serve` runs it:
`python -m bench._chat_server DATA_DIR PORT [WORKERS]`.

It serves the benchmark's `One` on DATA_DIR (a model that answers at once, the fake
embedder) with uvicorn on 127.0.0.1:PORT, in WORKERS processes (1 by default; more need
ONE_CHROMA_URL), until it is terminated. The benchmark has ingested the chunks, built
the clone and made the API key before starting it.
"""

from __future__ import annotations

import os
import sys

from agents.providers import Providers
from knowledge import FakeEmbedder
from one._app import One
from one._server import serve
from one._settings import Settings
from tests.one.conftest import brain_model  # a model that answers at once


def make() -> One:
    """The benchmark's `One`, on the settings (ONE_DATA_DIR, ONE_CHROMA_URL); each
    worker process makes its own."""
    return One(
        Settings(),
        model=brain_model(),
        embedder=FakeEmbedder(),
        providers=Providers.simulated(),
    )


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print("usage: python -m bench._chat_server DATA_DIR PORT [WORKERS]", file=sys.stderr)
        return 2
    os.environ["ONE_DATA_DIR"] = argv[0]
    serve(make, host="127.0.0.1", port=int(argv[1]), workers=int(argv[2]) if argv[2:] else 1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
