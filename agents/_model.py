"""The model layer every agent and the clone call: one chat model, used well.

It sends token limits the way each backend honours them, gets structured output the way
each backend supports it, retries what is worth retrying (tenacity), refuses calls that
would break a creator's budget before they reach the model, and attaches usage (tokens,
latency, cost) to every reply.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from typing import Any, Generic, Literal, TypeVar, overload

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel, ConfigDict, ValidationError
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential_jitter,
)

from agents._budget import Budget, Reservation
from agents._fakes import requests_blocked
from agents._provider_errors import typed_provider_errors
from agents._settings import Backend, ModelSettings
from agents._usage import PRICES, Usage, cost
from agents.errors import (
    AgentsError,
    ConfigurationError,
    ModelRequestBlockedError,
    OutputParseError,
    ProviderError,
    RateLimitedError,
)

T = TypeVar("T", bound=BaseModel)
Structured = Literal["function_calling", "json_schema"]
Messages = str | Sequence[BaseMessage]


class Reply(BaseModel, Generic[T]):
    """A model's answer: its text, the parsed output when one was asked for, and usage."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    text: str
    parsed: T | None = None
    usage: Usage
    message: AIMessage


# Held here: pydantic keeps parametrized models only weakly, and a chat server's profile
# showed `Reply[Any]` built anew (a class and its schema) during turns.
_AnyReply = Reply[Any]


class Model:
    """A chat model behind ONE's layer. Build one with `Model.from_settings()`.

    Args:
        chat: any LangChain chat model (`ChatOpenAI`, `ScriptedChatModel`, a recorder).
        name: the model's name, for usage and prices.
        backend: how to send limits: "openai" (max_completion_tokens) or "compatible" and
            "local" (max_tokens in the body; these servers ignore the other).
        structured: "json_schema" (OpenAI) or "function_calling" (everything else; the
            llama.cpp server refuses json_schema).
    """

    def __init__(
        self,
        chat: BaseChatModel,
        *,
        name: str,
        backend: Backend = "compatible",
        structured: Structured = "function_calling",
        max_tokens: int = 512,
        max_attempts: int = 4,
        total_timeout: float = 180.0,
        budget: Budget | None = None,
        prices: dict[str, tuple[float, float]] = PRICES,
        before_call: Callable[[], None] | None = None,
    ) -> None:
        self.before_call = before_call  # e.g. start the local server, at the first call
        self.chat, self.name, self.backend, self.structured = chat, name, backend, structured
        self.max_tokens, self.max_attempts, self.total_timeout = (
            max_tokens,
            max_attempts,
            total_timeout,
        )
        self.budget, self.prices = budget, prices

    @classmethod
    def from_settings(
        cls, settings: ModelSettings | None = None, *, budget: Budget | None = None
    ) -> Model:
        """The model the settings name: a compatible server, OpenAI, or the local default."""
        from agents._factory import chat_model

        settings = settings or ModelSettings()
        chat, before_call = chat_model(settings)
        return cls(
            chat,
            before_call=before_call,
            name=settings.model_name(),
            backend=settings.backend,
            structured="json_schema" if settings.backend == "openai" else "function_calling",
            max_tokens=settings.max_tokens,
            max_attempts=settings.max_attempts,
            total_timeout=settings.all_timeout(),
            budget=budget,
        )

    @overload
    def invoke(
        self,
        messages: Messages,
        *,
        output: None = None,
        creator_id: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> Reply[Any]: ...

    @overload
    def invoke(
        self,
        messages: Messages,
        *,
        output: type[T],
        creator_id: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> Reply[T]: ...

    def invoke(
        self,
        messages: Messages,
        *,
        output: type[T] | None = None,
        creator_id: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> Reply[Any]:
        """Ask the model; with `output`, get its reply parsed into that pydantic model.

        Raises:
            BudgetExceededError: before the call, if it could exceed the creator's budget.
            ProviderError: after retries, if the provider kept failing (or cannot succeed).
            OutputParseError: the reply never fitted `output`.
        """
        prompt = _messages(messages)
        limit = max_tokens or self.max_tokens
        kwargs = {**self._limit(limit), **(self._output_kwargs(output) if output else {})}
        if temperature is not None:
            kwargs["temperature"] = temperature
        reservation = self._reserve(creator_id, prompt, limit)
        started, attempts, spent = time.perf_counter(), 0, [0, 0]

        def attempt() -> tuple[AIMessage, T | None]:
            nonlocal attempts
            attempts += 1
            message = self._call(prompt, kwargs)
            used = message.usage_metadata  # every answered attempt costs, parsed or not
            spent[0] += used["input_tokens"] if used else _estimate_tokens(prompt)
            spent[1] += used["output_tokens"] if used else len(_text(message)) // 3
            return message, self._parse(message, output) if output else None

        try:
            message, parsed = self._retrying()(attempt)
        except BaseException:
            self._settle(reservation, *spent)
            raise
        usage = self._usage(
            spent, time.perf_counter() - started, attempts, estimated=message.usage_metadata is None
        )
        self._settle(reservation, usage.input_tokens, usage.output_tokens)
        return _AnyReply(text=_text(message), parsed=parsed, usage=usage, message=message)

    def stream(
        self,
        messages: Messages,
        *,
        creator_id: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> Stream:
        """Stream the reply's text; the `Stream`'s `reply` holds usage once it is done."""
        return Stream(
            self, _messages(messages), creator_id, max_tokens or self.max_tokens, temperature
        )

    def _call(self, prompt: list[BaseMessage], kwargs: dict[str, Any]) -> AIMessage:
        self._check_allowed()
        with typed_provider_errors(self.name):
            message = self.chat.invoke(prompt, **kwargs)
        assert isinstance(message, AIMessage)
        return message

    def _check_allowed(self) -> None:
        if requests_blocked() and not getattr(self.chat, "offline", False):
            raise ModelRequestBlockedError(self.name)
        if self.before_call is not None:
            self.before_call()

    def _retrying(self) -> Retrying:
        return Retrying(
            # Before, not after: a retry-after longer than the time left ends the retries.
            stop=stop_after_attempt(self.max_attempts) | stop_before_delay(self.total_timeout),
            wait=_wait,
            retry=retry_if_exception(lambda e: bool(getattr(e, "retryable", False))),
            reraise=True,
        )

    def _limit(self, limit: int) -> dict[str, Any]:
        if self.backend == "openai":
            return {"max_completion_tokens": limit}
        # llama.cpp (and others) ignore max_completion_tokens, which langchain-openai sends.
        return {"extra_body": {"max_tokens": limit}}

    def _output_kwargs(self, output: type[BaseModel]) -> dict[str, Any]:
        tool = convert_to_openai_tool(output, strict=self.structured == "json_schema")
        function = tool["function"]
        if self.structured == "json_schema":
            schema = {"name": function["name"], "schema": function["parameters"], "strict": True}
            return {"response_format": {"type": "json_schema", "json_schema": schema}}
        choice = {"type": "function", "function": {"name": function["name"]}}
        return {"tools": [tool], "tool_choice": choice}

    def _parse(self, message: AIMessage, output: type[T]) -> T:
        data: Any = message.tool_calls[0]["args"] if message.tool_calls else None
        try:
            if data is None:
                data = json.loads(_text(message))
            return output.model_validate(data)
        except (ValueError, ValidationError) as e:
            raise OutputParseError(
                f"{self.name}'s reply does not fit {output.__name__}: {str(e)[:300]}"
            ) from e

    def _reserve(
        self, creator_id: str | None, prompt: list[BaseMessage], limit: int
    ) -> Reservation | None:
        if self.budget is None or creator_id is None:
            return None
        return self.budget.reserve(creator_id, self._amount(_estimate_tokens(prompt), limit))

    def _settle(self, reservation: Reservation | None, tokens_in: int, tokens_out: int) -> None:
        if self.budget is not None and reservation is not None:
            self.budget.settle(reservation, self._amount(tokens_in, tokens_out))

    def _amount(self, input_tokens: int, output_tokens: int) -> float:
        assert self.budget is not None
        if self.budget.unit == "tokens":
            return float(input_tokens + output_tokens)
        dollars = cost(self.name, input_tokens, output_tokens, self.prices)
        if dollars is None:
            raise ConfigurationError(
                f"a dollar budget needs a price for model {self.name!r}; add it with "
                "Model(prices={..., name: (input, output) $ per million tokens})"
            )
        return dollars

    def _usage(
        self,
        spent: list[int],
        latency: float,
        attempts: int,
        *,
        estimated: bool,
        first_token: float | None = None,
    ) -> Usage:
        return Usage(
            model=self.name,
            input_tokens=spent[0],
            output_tokens=spent[1],
            latency_s=latency,
            first_token_s=first_token,
            attempts=attempts,
            estimated=estimated,
            cost_usd=cost(self.name, spent[0], spent[1], self.prices),
        )


class Stream:
    """The text of a reply as it is generated. Iterate it once; then read `reply`.

    A failure before the first token is retried like `invoke`; the output allowance holds
    even on a server that ignores it (the stream is cut there). A stream abandoned or
    broken midway is charged for what it produced.
    """

    def __init__(
        self,
        model: Model,
        prompt: list[BaseMessage],
        creator_id: str | None,
        limit: int,
        temperature: float | None = None,
    ) -> None:
        self._model, self._prompt, self._limit = model, prompt, limit
        self._extra: dict[str, Any] = {} if temperature is None else {"temperature": temperature}
        self._creator_id = creator_id
        self._attempts = 0
        self._started = False
        self.reply: Reply[Any] | None = None

    def __iter__(self) -> Generator[str, None, None]:  # `close()` it to stop reading early
        if self._started:
            raise AgentsError("a Stream can be read once; call Model.stream() again")
        self._started = True
        model, started = self._model, time.perf_counter()
        reservation = model._reserve(self._creator_id, self._prompt, self._limit)
        pieces: list[str] = []
        reported: UsageMetadata | None = None
        first: float | None = None
        try:
            for chunk in _mapped(model._retrying()(self._open), model.name):
                reported = chunk.usage_metadata or reported  # sent once, at the end
                text = _text(chunk)
                if text and len(pieces) >= self._limit:
                    break  # past the allowance: a server that ignored it is cut here
                if text:
                    first = first if first is not None else time.perf_counter() - started
                    pieces.append(text)
                    yield text
        except BaseException:  # GeneratorExit too: the reader stopped early
            model._settle(reservation, _estimate_tokens(self._prompt), len(pieces))
            raise
        spent = (
            [reported["input_tokens"], reported["output_tokens"]]
            if reported
            else [_estimate_tokens(self._prompt), len(pieces)]
        )
        usage = model._usage(
            spent,
            time.perf_counter() - started,
            self._attempts,
            estimated=reported is None,
            first_token=first,
        )
        model._settle(reservation, *spent)
        message = AIMessage(content="".join(pieces), usage_metadata=reported)
        self.reply = _AnyReply(text="".join(pieces), usage=usage, message=message)

    def _open(self) -> Iterator[AIMessageChunk]:
        """Start the stream and take its first chunk, so that failures to start retry."""
        model = self._model
        self._attempts += 1
        model._check_allowed()
        with typed_provider_errors(model.name):
            chunks = iter(
                model.chat.stream(
                    self._prompt, **model._limit(self._limit), **self._extra, stream_usage=True
                )
            )
            head = next(chunks, None)
        return _prepend(head, chunks) if head is not None else iter(())


def _mapped(chunks: Iterator[AIMessageChunk], model: str) -> Iterator[AIMessageChunk]:
    """The chunks, with a provider failure mid-stream raised as ONE's typed error."""
    with typed_provider_errors(model):
        yield from chunks


def _prepend(head: Any, rest: Iterator[Any]) -> Iterator[AIMessageChunk]:
    yield head
    yield from rest


_BACKOFF = wait_exponential_jitter(multiplier=0.5, max=20, jitter=0.5)


def _wait(state: RetryCallState) -> float:
    """Exponential backoff with jitter, or the provider's retry-after when it gives one."""
    error = state.outcome.exception() if state.outcome else None
    if isinstance(error, RateLimitedError) and error.retry_after is not None:
        return error.retry_after
    return float(_BACKOFF(state))


def _messages(messages: Messages) -> list[BaseMessage]:
    return [HumanMessage(messages)] if isinstance(messages, str) else list(messages)


def _text(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    return "".join(p if isinstance(p, str) else str(p.get("text", "")) for p in content)


def _estimate_tokens(prompt: list[BaseMessage]) -> int:
    """A generous count for reservations: about one token per 3 characters."""
    return sum(len(_text(m)) // 3 + 4 for m in prompt)


__all__ = ["Model", "ProviderError", "Reply", "Stream"]
