"""Fakes for tests, shipped so developers extending ONE can use them too.

`ScriptedChatModel` answers from a queue of scripted replies: text, structured output
(as a tool call or JSON, whichever the caller asked for), streamed word by word, with
token usage. `block_model_requests()` makes any real model request fail.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import BaseModel, Field

_blocked = {"on": os.environ.get("ONE_BLOCK_MODEL_REQUESTS", "") not in ("", "0")}


@contextmanager
def block_model_requests(blocked: bool = True) -> Iterator[None]:
    """While active, a call to a real (not scripted, not played back) model raises."""
    before, _blocked["on"] = _blocked["on"], blocked
    try:
        yield
    finally:
        _blocked["on"] = before


def allow_model_requests() -> Any:
    """Undo `block_model_requests` for a block of code (a test of the real model)."""
    return block_model_requests(False)


def requests_blocked() -> bool:
    return _blocked["on"]


class ScriptedChatModel(BaseChatModel):
    """A chat model that replies from a script, in order.

    Each reply is a string (the text), a pydantic model or dict (structured output), an
    exception (raised, to test failure paths), or a function of the messages returning one
    of those (to answer from what the prompt holds). Every call is kept in `calls`, unless
    `record` is off: a server running on the fakes for long (a benchmark's) would otherwise
    grow with every turn, and the garbage collector's full passes with it.

    Example:
        >>> fake = ScriptedChatModel(replies=["Hello!"])
        >>> fake.invoke("hi").content
        'Hello!'
    """

    replies: list[Any] = Field(default_factory=list)
    calls: list[dict[str, Any]] = Field(default_factory=list)
    record: bool = True
    answered: int = 0  # calls made, recorded or not
    model_name: str = "scripted"
    offline: bool = True

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._reply(messages, kwargs))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        yield from stream_words(self._reply(messages, kwargs))

    def _reply(self, messages: list[BaseMessage], kwargs: dict[str, Any]) -> AIMessage:
        if not self.replies:
            raise AssertionError(
                f"ScriptedChatModel ran out of replies after {self.answered} calls; script more"
            )
        return self._answer(self.replies.pop(0), messages, kwargs)

    def _answer(self, reply: Any, messages: list[BaseMessage], kwargs: dict[str, Any]) -> AIMessage:
        """The message for `reply` (a script's entry), the call recorded."""
        if self.record:
            self.calls.append({"messages": messages, "kwargs": kwargs})
        self.answered += 1
        if callable(reply) and not isinstance(reply, type | BaseModel):
            reply = reply(messages)
        if isinstance(reply, BaseException):
            raise reply
        data = reply.model_dump(mode="json") if isinstance(reply, BaseModel) else reply
        usage_in = sum(len(str(m.content).split()) for m in messages)
        if isinstance(data, dict) and "tools" in kwargs:
            name = kwargs["tools"][0]["function"]["name"]
            call = {"name": name, "args": data, "id": f"call_{self.answered}"}
            return AIMessage(
                content="",
                tool_calls=[call],
                usage_metadata=_usage(usage_in, len(json.dumps(data).split())),
            )
        text = json.dumps(data) if isinstance(data, dict) else str(data)
        return AIMessage(content=text, usage_metadata=_usage(usage_in, len(text.split())))


def stream_words(message: AIMessage) -> Iterator[ChatGenerationChunk]:
    """A whole reply as a stream, word by word, as a provider would send it: usage and any
    tool calls come with the last chunk."""
    words = str(message.content).split(" ")
    calls = [
        tool_call_chunk(name=c["name"], args=json.dumps(c["args"]), id=c["id"], index=n)
        for n, c in enumerate(message.tool_calls)
    ]
    for i, word in enumerate(words):
        last = i == len(words) - 1
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content=word if last else word + " ",
                usage_metadata=message.usage_metadata if last else None,
                tool_call_chunks=calls if last else [],
            )
        )


def _usage(input_tokens: int, output_tokens: int) -> UsageMetadata:
    return UsageMetadata(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        total_tokens=input_tokens + output_tokens,
    )
