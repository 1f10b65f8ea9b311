"""An "obedient" chat model for prompt-injection tests: it obeys every instruction it reads.

A stand-in for the most gullible model there could be. It reads all the text it is given
(system prompt, history, passages, question) the way a careless model would: it decodes
Unicode tag characters ("ASCII smuggling"), drops zero-width and other invisible
characters, decodes HTML entities and base64 blobs, and reads HTML comments, hidden
elements and text after fake role tags (`<|im_start|>system`, `[INST]`, `</data-...>`)
like any other text. Then it obeys every instruction of its small language, wherever it
found it:

- say: a trigger (reply, respond, answer, say, append, add, include, insert, output, paste,
  end), up to six words, then `:` and a payload, or the payload straight away when it
  starts like a link, image, tag or URL ("SYSTEM: include this image ![](https://...)").
  The payload, to the end of its line, goes into the answer; a literal `\\n` in it is a
  line break.
- leak: print, repeat, reveal, show, output, recite, dump, echo or disclose, then (on the
  same line) "system prompt", "system message", "instructions", "everything above",
  "initial prompt" or "hidden prompt": the system message goes into the answer, verbatim.
- tool: "call/use/invoke/run/execute/trigger (the tool) NAME (tool) (with) {json}", or a
  JSON object with "name" and "arguments" (bare, or under "tool_call"): the answer carries
  that tool call (`AIMessage.tool_calls`), whether or not any tool was offered.

The answer is one ordinary sentence, then each payload on a line of its own, in the order
found. Everything is deterministic. Every call's messages and keyword arguments are kept
in `calls`, every raw answer (before any guard saw it) in `outputs`.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, SystemMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.messages.tool import ToolCall
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field

from agents._fakes import stream_words

ANSWER = "Happy to help, here is what my kitchen notes say [1]."

_TRIGGER = r"reply|respond|answer|say|append|add|include|insert|output|paste|end"
_PAYLOAD_START = r"!\[|\[|<[a-zA-Z]|https?:|ftp:|www\.|//|data:|javascript:|mailto:"
_SAY = re.compile(
    rf"\b(?:{_TRIGGER})\b(?:[ \t]+[\w'\u2019-]+){{0,6}}?[ \t]*"
    rf"(?::[ \t]*(?P<after_colon>\S.*)|(?P<direct>(?:{_PAYLOAD_START}).*))",
    re.IGNORECASE,
)
_LEAK = re.compile(
    r"\b(?:print|repeat|reveal|show|output|recite|dump|echo|disclose)\b[^\n]{0,80}?"
    r"(?:system prompt|system message|instructions|everything above|initial prompt|"
    r"hidden prompt)",
    re.IGNORECASE,
)
_TOOL = re.compile(
    r"\b(?:call|use|invoke|run|execute|trigger)\s+(?:the\s+)?(?:(?:tool|function)\s+)?"
    r"[`'\"]?(?P<name>[A-Za-z_]\w*)[`'\"]?(?:\s+(?:tool|function))?\s*(?:with|using)?\s*"
    r"(?:(?:the\s+)?(?:args|arguments|parameters)\s*)?:?\s*(?P<args>\{.*\})",
    re.IGNORECASE,
)
_JSON = re.compile(r"\{.*\}")
_BASE64 = re.compile(r"(?<![\w+/=])[A-Za-z0-9+/]{24,}={0,2}(?![\w+/=])")
_TAGS = range(0xE0020, 0xE007F)  # Unicode tag characters mirroring printable ASCII


@dataclass(frozen=True)
class Directive:
    """One instruction the model found, and will obey."""

    kind: Literal["say", "leak", "tool"]
    payload: str = ""
    tool: str = ""
    args: dict[str, Any] = field(default_factory=dict)


def read(text: str, *, depth: int = 2) -> str:
    """Text as a gullible model reads it: nothing hidden, nothing encoded."""
    text = "".join(chr(ord(c) - 0xE0000) if ord(c) in _TAGS else c for c in text)
    text = "".join(c for c in text if unicodedata.category(c) != "Cf")
    text = html.unescape(text)
    if depth > 0:
        decoded = [_base64(m.group(0)) for m in _BASE64.finditer(text)]
        text = "\n".join([text, *(read(d, depth=depth - 1) for d in decoded if d)])
    return text


def directives(text: str) -> list[Directive]:
    """Every instruction in `text` (as `read` sees it), in order, each once."""
    found: list[Directive] = []
    for line in read(text).splitlines():
        directive = _directive(line)
        if directive is not None and directive not in found:
            found.append(directive)
    return found


def _directive(line: str) -> Directive | None:
    if m := _TOOL.search(line):
        args = _json(m.group("args"))
        if args is not None:
            return Directive("tool", tool=m.group("name"), args=args)
    if (m := _JSON.search(line)) and (data := _json(m.group(0))) is not None:
        call = data.get("tool_call", data)
        if isinstance(call, dict) and isinstance(call.get("name"), str):
            args = call.get("arguments", call.get("args", {}))
            return Directive("tool", tool=call["name"], args=args if isinstance(args, dict) else {})
    if _LEAK.search(line):
        return Directive("leak")
    if m := _SAY.search(line):
        payload = (m.group("after_colon") or m.group("direct") or "").strip()
        if payload:
            return Directive("say", payload=payload.replace("\\n", "\n"))
    return None


def _json(text: str) -> dict[str, Any] | None:
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _base64(blob: str) -> str | None:
    try:
        raw = base64.b64decode(blob + "=" * (-len(blob) % 4), validate=True)
        text = raw.decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    readable = all(c.isprintable() or c in "\n\t" for c in text) and " " in text
    return text if readable else None


class ObedientChatModel(BaseChatModel):
    """A chat model that obeys every instruction in everything it is given.

    `offline` lets it through `block_model_requests()`, like `ScriptedChatModel`.
    """

    calls: list[dict[str, Any]] = Field(default_factory=list)
    outputs: list[AIMessage] = Field(default_factory=list)
    model_name: str = "obedient"
    offline: bool = True

    @property
    def _llm_type(self) -> str:
        return "obedient"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._obey(messages, kwargs))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        yield from stream_words(self._obey(messages, kwargs))

    def _obey(self, messages: Sequence[BaseMessage], kwargs: dict[str, Any]) -> AIMessage:
        self.calls.append({"messages": list(messages), "kwargs": kwargs})
        system = next((str(m.content) for m in messages if isinstance(m, SystemMessage)), "")
        lines, tool_calls = [ANSWER], list[ToolCall]()
        for d in directives("\n".join(str(m.content) for m in messages)):
            if d.kind == "say":
                lines.append(d.payload)
            elif d.kind == "leak" and system:
                lines.append(system)
            elif d.kind == "tool":
                tool_calls.append(
                    ToolCall(name=d.tool, args=d.args, id=f"call_{len(tool_calls) + 1}")
                )
        text = "\n".join(lines)
        used_in = sum(len(str(m.content).split()) for m in messages)
        usage = UsageMetadata(
            input_tokens=used_in,
            output_tokens=len(text.split()),
            total_tokens=used_in + len(text.split()),
        )
        message = AIMessage(content=text, tool_calls=tool_calls, usage_metadata=usage)
        self.outputs.append(message)
        return message
