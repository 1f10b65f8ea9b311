"""The embedder contract: LangChain's `Embeddings`, plus a name and a dimension.

A collection stores the name and dimension of the embedder that filled it, so that a
query with another embedder fails clearly instead of returning garbage.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Space
from chromadb.api.types import Embeddings as ChromaEmbeddings
from langchain_core.embeddings import Embeddings


class Embedder(Embeddings):
    """Turns texts into unit vectors. Subclass it to add an embedder.

    Attributes:
        name: identifies the model and its settings (stored with each collection).
        dimension: the length of every vector.
    """

    name: str
    dimension: int

    @abstractmethod
    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed passages to store."""

    def embed_query(self, text: str) -> list[float]:
        """Embed a search query."""
        return self.embed_documents([text])[0]

    def count_tokens(self, text: str) -> int:
        """About how many tokens the model sees in `text` (sizes chunks to fit the model).

        Override with the model's own tokenizer where there is one.
        """
        return len(text.split()) * 4 // 3 + 1

    @property
    def signature(self) -> str:
        """`name` and dimension, as stored with a collection."""
        return f"{self.name} ({self.dimension} dims)"

    def as_chroma_function(self) -> ChromaFunction:
        """This embedder as a Chroma embedding function (`embedding_function=`)."""
        return ChromaFunction(self)


class ChromaFunction(EmbeddingFunction[Documents]):
    """Adapts an `Embedder` to Chroma's `EmbeddingFunction` protocol."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def __call__(self, input: Documents) -> ChromaEmbeddings:
        vectors = self.embedder.embed_documents(list(input))
        return [np.asarray(v, dtype=np.float32) for v in vectors]

    @staticmethod
    def name() -> str:
        return "one"

    def default_space(self) -> Space:
        return "cosine"  # ONE's embedders return unit vectors

    def supported_spaces(self) -> list[Space]:
        return ["cosine", "ip", "l2"]

    def get_config(self) -> dict[str, Any]:
        return {"embedder": self.embedder.name, "dimension": self.embedder.dimension}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> ChromaFunction:
        """Rebuild ONE's own embedders when Chroma reopens a collection made with one."""
        from knowledge._fake import FakeEmbedder
        from knowledge._minilm import MiniLMEmbedder

        name = config.get("embedder")
        if name == MiniLMEmbedder.name:
            return ChromaFunction(MiniLMEmbedder())
        if name == f"fake-hash-{config.get('dimension')}":
            return ChromaFunction(FakeEmbedder(int(config["dimension"])))
        raise ValueError(
            f"cannot rebuild embedder {name!r} from its name; pass embedding_function= "
            "when you open the collection"
        )
