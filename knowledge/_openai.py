"""OpenAI embeddings (or any OpenAI-compatible embeddings server), through langchain-openai."""

from __future__ import annotations

import os

from knowledge._embedder import Embedder
from knowledge.errors import ConfigurationError

_DIMENSIONS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}


class OpenAIEmbedder(Embedder):
    """`langchain_openai.OpenAIEmbeddings` with the name and dimension ONE records.

    Args:
        model: the embedding model.
        dimension: its vector length (known for OpenAI's models; required for others).
        api_key: else `OPENAI_API_KEY`.
        base_url: an OpenAI-compatible server; else `OPENAI_BASE_URL`, else OpenAI.
    """

    def __init__(
        self,
        model: str = "text-embedding-3-small",
        *,
        dimension: int | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
    ) -> None:
        from langchain_openai import OpenAIEmbeddings
        from pydantic import SecretStr

        key = api_key or os.environ.get("OPENAI_API_KEY")
        if not key:
            raise ConfigurationError(
                "OpenAI embeddings need a key: set OPENAI_API_KEY, or use the local default "
                "(MiniLMEmbedder), which needs none"
            )
        size = dimension or _DIMENSIONS.get(model)
        if size is None:
            raise ConfigurationError(f"give the dimension of embedding model {model!r}")
        self.name, self.dimension = f"openai:{model}", size
        self._client = OpenAIEmbeddings(
            model=model,
            openai_api_key=SecretStr(key),
            openai_api_base=base_url or os.environ.get("OPENAI_BASE_URL"),
            dimensions=dimension if dimension and model.startswith("text-embedding-3") else None,
            # Send text, not tiktoken ids: tiktoken downloads its tables at run time, and
            # ONE's chunks are far below any embedding model's context.
            check_embedding_ctx_length=False,
        )

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._client.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self._client.embed_query(text)
