"""A deterministic embedder for tests: no model, no network, same text, same vector.

Words and character trigrams are hashed into buckets (feature hashing), so texts that
share words are close and unrelated texts are nearly orthogonal: enough for retrieval
tests to mean something, in microseconds.
"""

from __future__ import annotations

import hashlib
import math
import re

from knowledge._embedder import Embedder

_WORD = re.compile(r"\w+")


class FakeEmbedder(Embedder):
    """Hashed bag of words and trigrams, normalised. For tests and examples."""

    def __init__(self, dimension: int = 256) -> None:
        self.dimension = dimension
        self.name = f"fake-hash-{dimension}"
        self.calls = 0  # texts embedded so far: lets tests see work done or skipped

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.calls += len(texts)
        return [self._vector(t) for t in texts]

    def count_tokens(self, text: str) -> int:
        return len(_WORD.findall(text))

    def _vector(self, text: str) -> list[float]:
        vector = [0.0] * self.dimension
        for word in _WORD.findall(text.lower()):
            for feature in (word, *(word[i : i + 3] for i in range(max(len(word) - 2, 0)))):
                digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
                bucket = int.from_bytes(digest[:4], "little") % self.dimension
                vector[bucket] += 1.0 if digest[4] & 1 else -1.0
        norm = math.sqrt(sum(v * v for v in vector)) or 1.0
        return [v / norm for v in vector]
