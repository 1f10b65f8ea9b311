"""Split sources into chunks that fit the embedder, keeping where each came from."""

from __future__ import annotations

import bisect
import hashlib
from collections import Counter
from collections.abc import Callable

from langchain_text_splitters import RecursiveCharacterTextSplitter
from pydantic import BaseModel, ConfigDict

from knowledge._sources import Source, SourceKind


class Chunk(BaseModel):
    """A piece of a source, as stored and as retrieved.

    Attributes:
        id: derived from the creator, the source and the text, so the same text in the
            same source always has the same id (re-ingesting it writes nothing).
        position: its place in the source (0, 1, 2, ...).
        start, end: its time span in the recording, for transcripts.
    """

    model_config = ConfigDict(frozen=True)

    id: str
    creator_id: str
    entity_id: str
    source: str
    kind: SourceKind
    title: str
    position: int
    text: str
    start: float | None = None
    end: float | None = None

    def metadata(self) -> dict[str, str | int | float]:
        """Chroma metadata: everything but the id and the text; no None values."""
        data = self.model_dump(exclude={"id", "text"})
        return {k: v for k, v in data.items() if v is not None}


class Splitter:
    """Token-aware splitting (langchain-text-splitters) with overlap.

    Args:
        count_tokens: the embedder's token counter.
        chunk_tokens: the most tokens in a chunk (the MiniLM model reads 256).
        overlap_tokens: tokens repeated between neighbouring chunks.
    """

    def __init__(
        self,
        count_tokens: Callable[[str], int],
        *,
        chunk_tokens: int = 200,
        overlap_tokens: int = 30,
    ) -> None:
        self._splitter = RecursiveCharacterTextSplitter(
            chunk_size=chunk_tokens,
            chunk_overlap=overlap_tokens,
            length_function=count_tokens,
        )

    def split(self, source: Source, *, creator_id: str, entity_id: str) -> list[Chunk]:
        """The chunks of `source`, in order, with time spans for transcripts."""
        text = source.text
        # Where each segment starts in `text` (segments are joined by one newline).
        offsets, at = [], 0
        for segment in source.segments:
            offsets.append(at)
            at += len(segment.text) + 1
        seen: Counter[str] = Counter()
        chunks, cursor = [], 0
        for position, piece in enumerate(self._splitter.split_text(text)):
            # Chunks are substrings of `text`, in order; each starts after the last began.
            # (LangChain's own start_index subtracts a token overlap from a character offset.)
            begin = text.find(piece, cursor)
            cursor = begin + 1
            first = bisect.bisect_right(offsets, begin) - 1
            last = bisect.bisect_right(offsets, begin + len(piece) - 1) - 1
            seen[piece] += 1
            chunks.append(
                Chunk(
                    id=_chunk_id(creator_id, source.key, piece, seen[piece]),
                    creator_id=creator_id,
                    entity_id=entity_id,
                    source=source.key,
                    kind=source.kind,
                    title=source.title,
                    position=position,
                    text=piece,
                    start=source.segments[first].start,
                    end=source.segments[last].end,
                )
            )
        return chunks


def _chunk_id(creator_id: str, source: str, text: str, occurrence: int) -> str:
    digest = hashlib.sha256(f"{creator_id}\0{source}\0{occurrence}\0{text}".encode())
    return digest.hexdigest()[:32]
