"""ONE's server for the chat benchmark, in a process of its own as `one serve` runs it:
`python -m bench._chat_server DATA_DIR PORT`.

It serves the benchmark's `One` on DATA_DIR (a model that answers at once, the fake
embedder) with uvicorn on 127.0.0.1:PORT, until it is terminated. The benchmark has
ingested the chunks, built the clone and made the API key before starting it.
"""

from __future__ import annotations

import sys
from pathlib import Path

from bench.one_bench import _one
from one._server import serve
from tests.one.conftest import brain_model  # a model that answers at once


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m bench._chat_server DATA_DIR PORT", file=sys.stderr)
        return 2
    data_dir, port = Path(argv[0]), int(argv[1])
    with _one(data_dir, brain_model()) as one:
        serve(one, host="127.0.0.1", port=port)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
