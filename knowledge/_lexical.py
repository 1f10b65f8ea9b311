"""Lexical ranking (BM25, with bm25s) over one creator's chunks.

Fans ask about names, numbers and titles that dense embeddings blur; BM25 finds them.
The index is built in memory from the creator's collection on first search, and rebuilt
when the collection's version changes.
"""

from __future__ import annotations

from typing import Any

import bm25s
import numpy as np
import Stemmer

_STEMMER = Stemmer.Stemmer("english")  # "brining" and "brine" are one term
# Numbers keep their decimal, ratio and time punctuation ("3.5", "1:1.2", "20/30"), and
# single characters count: bm25s's default pattern drops both, and fans ask about them.
_TOKENS = r"(?u)\d+(?:[.,:/]\d+)*|\w+"


class LexicalIndex:
    """A BM25 index over chunk texts; `search` returns (position, score) best first."""

    def __init__(self, texts: list[str]) -> None:
        self.size = len(texts)
        self._bm25 = bm25s.BM25()
        if texts:
            tokens = bm25s.tokenize(
                texts,
                stopwords="en",
                stemmer=_STEMMER,
                token_pattern=_TOKENS,
                show_progress=False,
            )
            self._bm25.index(tokens, show_progress=False)

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """Up to `k` (index into the texts, BM25 score) pairs, best first; no zero scores."""
        if self.size == 0:
            return []
        words: Any = bm25s.tokenize(
            [query],
            stopwords="en",
            stemmer=_STEMMER,
            token_pattern=_TOKENS,
            show_progress=False,
            return_ids=False,
        )
        if not words or not any(words[0]):
            return []
        # Scores, then the top k here: `retrieve` does the same behind a progress bar's set-up.
        scores = self._bm25.get_scores(list(words[0]))
        k = min(k, self.size)
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(i), float(scores[i])) for i in top if scores[i] > 0]
