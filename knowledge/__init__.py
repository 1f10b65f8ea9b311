"""A creator's own content, searchable: ingest, embed, store in Chroma, retrieve.

`Knowledge` ingests files and records into one Chroma collection per creator (recording
each source in the ontology); `Knowledge.retriever(creator_id)` searches one creator's
chunks, fusing dense similarity with BM25. The default embedder runs all-MiniLM-L6-v2
locally; `FakeEmbedder` is a deterministic stand-in for tests.
"""

from knowledge import errors
from knowledge._chunks import Chunk, Splitter
from knowledge._clean import clean
from knowledge._embedder import Embedder
from knowledge._fake import FakeEmbedder
from knowledge._knowledge import IngestReport, Knowledge, Progress, source_entity_id
from knowledge._minilm import MiniLMEmbedder
from knowledge._openai import OpenAIEmbedder
from knowledge._retriever import Hit, Mode, Retriever
from knowledge._sources import Segment, Source, SourceKind, from_record, load_file

__all__ = [
    "Chunk",
    "Embedder",
    "FakeEmbedder",
    "Hit",
    "IngestReport",
    "Knowledge",
    "MiniLMEmbedder",
    "Mode",
    "OpenAIEmbedder",
    "Progress",
    "Retriever",
    "Segment",
    "Source",
    "SourceKind",
    "Splitter",
    "clean",
    "errors",
    "from_record",
    "load_file",
    "source_entity_id",
]
