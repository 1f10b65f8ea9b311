"""The model layer's cost: ONE streaming from the local SmolLM2 server, against the same
model called directly through `llama_cpp` in this process, and against plain `ChatOpenAI`
on the same server. The three are run in turn on the same prompts, over several rounds.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

from agents import Model, ModelSettings, allow_model_requests, packaged_model, shared_server
from bench._report import Figure, report

TOPICS = [
    "a lighthouse",
    "a sourdough starter",
    "a lost dog",
    "a night market",
    "a kite",
    "a violin",
    "a tide pool",
    "a snowstorm",
    "a train station",
    "a garden",
]
GOAL = 0.9


def generation(quick: bool) -> dict[str, Any]:
    """Tokens per second and time to first token, by path, medians over the prompts."""
    tokens = 64 if quick else 160
    topics = TOPICS[:3] if quick else TOPICS
    with allow_model_requests():
        paths = _paths(tokens)
        runs: dict[str, list[tuple[float, float]]] = {name: [] for name in paths}
        names = list(paths)
        for round_, topic in enumerate(topics):
            # Each path its own wording (no path finds another's prompt in a cache), and
            # each path first in turn.
            for i in range(len(names)):
                name = names[(round_ + i) % len(names)]
                prompt = f"Story {'ABC'[names.index(name)]}: write a short story about {topic}."
                runs[name].append(_measure(paths[name](prompt)))
    rate = {n: statistics.median(r[0] for r in rs) for n, rs in runs.items()}
    first = {n: statistics.median(r[1] for r in rs) * 1000 for n, rs in runs.items()}
    ratio = rate["one"] / rate["llama_cpp"]
    return report(
        f"Generation, SmolLM2-135M, {len(topics)} prompts, up to {tokens} tokens each",
        [
            Figure("llama_cpp_tokens_per_s", "llama_cpp direct", rate["llama_cpp"], "tokens/s"),
            Figure(
                "chatopenai_tokens_per_s",
                "ChatOpenAI on ONE's server",
                rate["chatopenai"],
                "tokens/s",
            ),
            Figure("one_tokens_per_s", "ONE Model.stream", rate["one"], "tokens/s"),
            Figure(
                "ratio", "ONE / llama_cpp direct", ratio, "x", goal=f">= {GOAL}", met=ratio >= GOAL
            ),
            Figure(
                "llama_cpp_first_token_ms",
                "first token, llama_cpp direct",
                first["llama_cpp"],
                "ms",
            ),
            Figure("one_first_token_ms", "first token, ONE", first["one"], "ms"),
            Figure(
                "added_first_token_ms",
                "first token added by ONE (server and layer)",
                first["one"] - first["llama_cpp"],
                "ms",
            ),
            Figure(
                "layer_first_token_ms",
                "of which ONE's layer (vs ChatOpenAI)",
                first["one"] - first["chatopenai"],
                "ms",
            ),
        ],
    )


def _paths(tokens: int) -> dict[str, Callable[[str], Iterator[str]]]:
    from langchain_openai import ChatOpenAI
    from llama_cpp import Llama

    server = shared_server()
    llama = Llama(
        model_path=str(packaged_model()), n_ctx=2048, n_threads=server.threads, verbose=False
    )
    model = Model.from_settings(ModelSettings(temperature=0, max_tokens=tokens))
    chat = ChatOpenAI(
        model="local",
        base_url=server.base_url,
        api_key="local",
        temperature=0,
        extra_body={"max_tokens": tokens},
    )

    def direct(prompt: str) -> Iterator[str]:
        parts = llama.create_chat_completion(
            [{"role": "user", "content": prompt}], max_tokens=tokens, temperature=0, stream=True
        )
        assert not isinstance(parts, dict)  # streamed: an iterator of parts
        for part in parts:
            text = part["choices"][0]["delta"].get("content")
            if isinstance(text, str) and text:
                yield text

    def bare(prompt: str) -> Iterator[str]:
        yield from (str(c.content) for c in chat.stream(prompt) if c.content)

    return {"llama_cpp": direct, "chatopenai": bare, "one": lambda p: iter(model.stream(p))}


def _measure(pieces: Iterator[str]) -> tuple[float, float]:
    """(tokens per second over the whole call, seconds to the first token)."""
    started = time.perf_counter()
    first, count = None, 0
    for _ in pieces:
        first = first if first is not None else time.perf_counter() - started
        count += 1
    return count / (time.perf_counter() - started), first or 0.0


BENCHMARKS = {"generation": generation}
