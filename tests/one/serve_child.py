"""ONE's server on fakes, in a process of its own, for the tests of `serve(workers=...)`
and the chat benchmark.

`python -m tests.one.serve_child PORT WORKERS`: serves the ONE on the settings
(`ONE_DATA_DIR`, `ONE_CHROMA_URL`) as `one serve --workers WORKERS` does (one process for
1), each with a model that answers at once and the fake embedder, until it is terminated.
"""

from __future__ import annotations

import sys

from one._app import One
from one._server import serve
from one._settings import Settings
from tests.one.conftest import brain_model, make_one


def make() -> One:
    """Each worker's ONE: on the settings, with the tests' fakes (a model keeping no calls:
    a benchmark's server answers thousands)."""
    settings = Settings()
    return make_one(settings.data_dir, brain_model(record=False), chroma_url=settings.chroma_url)


if __name__ == "__main__":
    serve(make, host="127.0.0.1", port=int(sys.argv[1]), workers=int(sys.argv[2]))
