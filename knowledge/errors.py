"""Errors raised by `knowledge`, grouped by who has to act on them.

```
KnowledgeError
├── ConfigurationError         ONE cannot set up what was asked (a missing model, a bad URL)
├── SourceError                a source cannot be ingested; names the file (and line)
│   ├── EmptySourceError       nothing left to ingest after cleaning
│   ├── BinarySourceError      not text
│   ├── OversizeSourceError    larger than the limit
│   ├── EncodingSourceError    not valid UTF-8; names the line
│   └── FormatSourceError      a transcript or record file whose structure is wrong
├── EmbedderMismatchError      a collection built by one embedder, queried with another
├── IsolationError             a hit from another creator reached a retriever (a bug: report it)
└── StoreUnavailableError      the Chroma server cannot be reached
```

Every message says what to do about it.
"""

from __future__ import annotations

__all__ = [
    "BinarySourceError",
    "ConfigurationError",
    "EmbedderMismatchError",
    "EmptySourceError",
    "EncodingSourceError",
    "FormatSourceError",
    "IsolationError",
    "KnowledgeError",
    "OversizeSourceError",
    "SourceError",
    "StoreUnavailableError",
]


class KnowledgeError(Exception):
    """Root of every error `knowledge` raises."""


class ConfigurationError(KnowledgeError):
    """Something `knowledge` needs is missing or set wrongly."""


class SourceError(KnowledgeError, ValueError):
    """A source cannot be ingested. Nothing of it was written.

    Attributes:
        source: the file path or record id.
    """

    def __init__(self, source: str, why: str) -> None:
        self.source = source
        super().__init__(f"{source}: {why}")


class EmptySourceError(SourceError):
    def __init__(self, source: str) -> None:
        super().__init__(source, "no text left after cleaning; remove it or give it content")


class BinarySourceError(SourceError):
    def __init__(self, source: str) -> None:
        super().__init__(
            source, "is binary, not text; ingest its transcript (.txt, .srt, .vtt, .json)"
        )


class OversizeSourceError(SourceError):
    def __init__(self, source: str, size: int, limit: int) -> None:
        super().__init__(
            source,
            f"is {size:,} bytes, over the {limit:,}-byte limit; split it, "
            "or raise max_bytes (ONE_MAX_SOURCE_BYTES)",
        )


class EncodingSourceError(SourceError):
    def __init__(self, source: str, line: int, detail: str) -> None:
        self.line = line
        super().__init__(
            source, f"line {line} is not valid UTF-8 ({detail}); re-save the file as UTF-8"
        )


class FormatSourceError(SourceError):
    """A transcript or a record file that does not have the expected structure."""


class EmbedderMismatchError(KnowledgeError):
    """A creator's collection was built with one embedder and is being used with another."""

    def __init__(self, creator_id: str, built_with: str, used_with: str) -> None:
        super().__init__(
            f"creator {creator_id!r}'s knowledge was embedded with {built_with}, but this "
            f"Knowledge uses {used_with}; open it with the same embedder, or re-ingest "
            f"(knowledge.reset(creator_id), then ingest again)"
        )


class IsolationError(KnowledgeError):
    """A retriever saw a chunk of another creator: refused, never returned."""


class StoreUnavailableError(KnowledgeError):
    """The Chroma server did not answer."""
