"""The embedder contract: LangChain's `Embeddings`, plus a name and a dimension.

A collection stores the name and dimension of the embedder that filled it, so that a
query with another embedder fails clearly instead of returning garbage.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

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


class ChromaFunction:
    """Adapts an `Embedder` to Chroma's `EmbeddingFunction` protocol."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def __call__(self, input: list[str]) -> list[Any]:
        import numpy as np

        return [np.asarray(v, dtype=np.float32) for v in self.embedder.embed_documents(input)]

    def embed_query(self, input: list[str]) -> list[Any]:
        return self(input)

    @staticmethod
    def name() -> str:
        return "one"

    def is_legacy(self) -> bool:
        return False

    def get_config(self) -> dict[str, Any]:
        return {"embedder": self.embedder.name, "dimension": self.embedder.dimension}
