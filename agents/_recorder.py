"""Record model exchanges once, replay them offline: deterministic tests, re-runnable graphs.

`RecordingChatModel` wraps any chat model. `live` calls it; `record` calls it and saves
each exchange as a readable JSON file; `playback` answers from the files and never calls
the model. An exchange is keyed by a hash of the model, the messages, the output schema
and tools, and the generation settings. Playback with no matching recording fails closed,
showing how the call differs from the nearest recording.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    message_to_dict,
    messages_from_dict,
)
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

from agents.errors import RecordingMissingError

Mode = Literal["live", "record", "playback"]
_UNSTABLE = ("url", "base", "key", "timeout", "retries", "client")  # not part of the key


class RecordingChatModel(BaseChatModel):
    """Wraps `inner`; records to or plays back from `directory`, by `mode`."""

    inner: BaseChatModel
    directory: Path
    mode: Mode = "playback"

    @property
    def offline(self) -> bool:
        """Playback never calls a model; otherwise it is as offline as the model it wraps."""
        return self.mode == "playback" or bool(getattr(self.inner, "offline", False))

    @property
    def _llm_type(self) -> str:
        return f"recording-{self.inner._llm_type}"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        request = self._request(messages, stop, kwargs, stream=False)
        if self.mode == "playback":
            saved = self._load(request)
            message = messages_from_dict([saved["response"]])[0]
            return ChatResult(generations=[ChatGeneration(message=message)])
        result = self.inner._generate(messages, stop=stop, **kwargs)
        if self.mode == "record":
            self._save(request, {"response": message_to_dict(result.generations[0].message)})
        return result

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        request = self._request(messages, stop, kwargs, stream=True)
        if self.mode == "playback":
            for saved in messages_from_dict(self._load(request)["chunks"]):
                assert isinstance(saved, AIMessageChunk)
                yield ChatGenerationChunk(message=saved)
            return
        seen: list[dict[str, Any]] = []
        for chunk in self.inner._stream(messages, stop=stop, **kwargs):
            seen.append(message_to_dict(chunk.message))
            yield chunk
        if self.mode == "record":
            self._save(request, {"chunks": seen})

    def _request(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None,
        kwargs: dict[str, Any],
        *,
        stream: bool,
    ) -> dict[str, Any]:
        settings = {
            k: v
            for k, v in self.inner._identifying_params.items()
            if not any(word in k for word in _UNSTABLE)
        }
        return {
            "model": settings,
            "messages": [_plain(m) for m in messages],
            "options": {k: v for k, v in kwargs.items() if k != "stream_usage"},
            "stop": stop,
            "stream": stream,
        }

    def _path(self, request: dict[str, Any]) -> Path:
        blob = json.dumps(request, sort_keys=True, default=str)
        return self.directory / f"{hashlib.sha256(blob.encode()).hexdigest()[:24]}.json"

    def _save(self, request: dict[str, Any], answer: dict[str, Any]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        document = {"request": request, **answer}
        self._path(request).write_text(json.dumps(document, indent=2, default=str) + "\n")

    def _load(self, request: dict[str, Any]) -> dict[str, Any]:
        path = self._path(request)
        if path.is_file():
            data: dict[str, Any] = json.loads(path.read_text())
            return data
        raise RecordingMissingError(_missing(request, self.directory))


def _plain(message: BaseMessage) -> dict[str, Any]:
    data = {"type": message.type, "content": message.content}
    if isinstance(message, AIMessage) and message.tool_calls:
        data["tool_calls"] = [{"name": c["name"], "args": c["args"]} for c in message.tool_calls]
    return data


def _missing(request: dict[str, Any], directory: Path) -> str:
    """Which call had no recording, and how it differs from the nearest one."""
    ours = json.dumps(request, indent=2, sort_keys=True, default=str).splitlines()
    best: tuple[float, Path, list[str]] | None = None
    for path in sorted(directory.glob("*.json")):
        theirs = json.dumps(
            json.loads(path.read_text())["request"], indent=2, sort_keys=True, default=str
        ).splitlines()
        score = difflib.SequenceMatcher(None, ours, theirs).ratio()
        if best is None or score > best[0]:
            best = (score, path, theirs)
    head = (
        f"no recording for this model call in {directory} (playback mode never calls "
        "the model); record it with mode='record'"
    )
    if best is None:
        return f"{head}. There are no recordings at all."
    diff = difflib.unified_diff(
        best[2], ours, f"recorded {best[1].name}", "this call", lineterm="", n=1
    )
    return f"{head}. Nearest recording, {best[1].name}:\n" + "\n".join(list(diff)[:40])
