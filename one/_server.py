"""ONE's HTTP server (`one serve`): REST for creators, content, clones, agents, runs,
schedules and events; server-sent events for live runs and streamed replies; and an
OpenAI-compatible `/v1/chat/completions` and `/v1/models`, where each clone is a model.

Every route but `/health` takes an API key (`Authorization: Bearer one_...`), scoped to
one creator: a key of creator A gets 403 on anything of creator B. Bodies larger than
`max_request_bytes` are refused (413) before anything reads them, so before any model call.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import importlib
import json
import os
import re
import sqlite3
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Body, Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from agents import clone_entity_id
from agents.errors import AgentsError, ConfigurationError
from graphs import Run
from knowledge.errors import ConfigurationError as KnowledgeConfigurationError
from knowledge.errors import KnowledgeError
from one import _keys
from one._app import One, run_json
from one._keys import Caller
from one._schedules import Scheduler, Schedules
from one._settings import locked
from ontology import Entity, Event
from ontology.errors import (
    ConstraintViolationError,
    DatabaseLockedError,
    IdempotencyConflictError,
    InvalidInputError,
    NotFoundError,
    OntologyError,
)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

BUSY_RETRY_AFTER_SECONDS = 1  # a 503's Retry-After when the database stayed busy

_KEY_HELP = (
    "send an API key as `Authorization: Bearer one_...`; "
    "make one with `one keys create --creator NAME`"
)


class _BodyLimit:
    """Refuse a request body over `limit` bytes (413), by its Content-Length before reading
    it, or as it arrives when it has none."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            if not declared.isdigit() or int(declared) > self.limit:
                await _too_large(self.limit, send)
                return
            await self.app(scope, receive, send)
            return
        # No length declared (a chunked body): read it here, up to the limit, then replay.
        messages: list[MutableMapping[str, Any]] = []
        seen = 0
        while True:
            message = await receive()
            messages.append(message)
            seen += len(message.get("body", b""))
            if seen > self.limit:
                await _too_large(self.limit, send)
                return
            if message["type"] != "http.request" or not message.get("more_body"):
                break

        async def replay() -> MutableMapping[str, Any]:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


async def _too_large(limit: int, send: Send) -> None:
    body = json.dumps(
        {"detail": f"the request body is over {limit} bytes (ONE_MAX_REQUEST_BYTES)"}
    ).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# -- request bodies -------------------------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NewCreator(_Body):
    name: str = Field(min_length=1, max_length=200)
    niche: str | None = None


class SearchBody(_Body):
    query: str = Field(min_length=1, max_length=2000)
    k: int | None = Field(default=None, ge=1, le=50)


class ChatBody(_Body):
    fan: str = Field(min_length=1, max_length=128, description="the fan's handle")
    message: str = Field(min_length=1)
    key: str | None = Field(default=None, max_length=200, description="a request id")
    stream: bool = False


class AgentRunBody(_Body):
    task: str | None = Field(default=None, max_length=2000)


class RunBody(_Body):
    graph: str
    input: dict[str, Any] = Field(default_factory=dict)
    run_id: str | None = None


class ResumeBody(_Body):
    value: Any = None


class ScheduleBody(_Body):
    target: Literal["agent", "graph"]
    name: str
    cron: str
    timezone: str = "UTC"
    end: datetime | None = None
    enabled: bool = True


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str
    content: str | list[dict[str, Any]] | None = None


class Completion(BaseModel):
    """An OpenAI chat completion request; fields ONE does not use are accepted and ignored."""

    model_config = ConfigDict(extra="allow")
    model: str
    messages: list[Message] = Field(min_length=1)
    stream: bool = False
    user: str | None = Field(default=None, max_length=128)


# -- who is asking ------------------------------------------------------------------------
# The dependencies live at module level: under `from __future__ import annotations` FastAPI
# resolves a parameter's annotation in the module's globals, so an `Annotated` alias made
# inside `create_app` would not be found and the parameter would become a query field.


async def _one(request: Request) -> One:  # async: no thread for it (nor for _key)
    one: One = request.app.state.one
    return one


TheOne = Annotated[One, Depends(_one)]


async def _key(
    authorization: Annotated[str | None, Header()] = None,
    x_api_key: Annotated[str | None, Header()] = None,
) -> str:
    """The request's API key, as its headers give it (not looked up yet)."""
    secret = x_api_key or ""
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise HTTPException(401, f"malformed Authorization header: {_KEY_HELP}")
        secret = value.strip()
    if not secret:
        raise HTTPException(401, f"no API key: {_KEY_HELP}")
    return secret


Key = Annotated[str, Depends(_key)]


def _identified(one: One, secret: str) -> Caller:
    found = _keys.identify(one.store, secret)
    if found is None:
        raise HTTPException(401, f"unknown or revoked API key: {_KEY_HELP}")
    return found


def _caller(one: TheOne, secret: Key) -> Caller:
    return _identified(one, secret)


Who = Annotated[Caller, Depends(_caller)]


def _creator_of(creator_id: str, who: Who, one: TheOne) -> Entity:
    if not who.may(creator_id):
        raise HTTPException(403, f"this API key is for another creator, not {creator_id}")
    found = one.store.entities.find(creator_id)
    if found is None or found.type != "creator":
        raise HTTPException(404, f"no creator {creator_id}; list them with GET /creators")
    return found


Creator = Annotated[Entity, Depends(_creator_of)]


def _run_of(run_id: str, who: Who, one: TheOne) -> Run:
    run = one.runs.get(run_id)
    if not who.may(run.creator_id):
        raise HTTPException(403, f"run {run_id} belongs to another creator")
    return run


Owned = Annotated[Run, Depends(_run_of)]


# -- the app --------------------------------------------------------------------------------


_WORKER_ENV = "ONE_SERVE_WORKER"  # what `serve` tells its worker processes to build


def serve(
    make: Callable[[], One],
    *,
    host: str,
    port: int,
    scheduler: bool = False,
    workers: int = 1,
) -> None:
    """Serve the `One` that `make` builds with uvicorn on `host:port` until the process is
    stopped (`one serve`), after recovering the runs a crash left unfinished.

    With `workers` > 1, that many processes serve together (uvicorn's workers, on one
    socket), each with its own `One` from `make`, which must then be a module-level
    function; a process's Python runs on one core at a time, so this is how a server
    uses more. Their knowledge must then be a Chroma server (`ONE_CHROMA_URL`): embedded
    Chroma is not safe across processes. Each process runs due schedules when `scheduler`
    is set; the claim of a slot is unique in the database, so each slot runs once.
    """
    import uvicorn

    if workers < 1:
        raise ValueError(f"workers must be 1 or more, not {workers}")
    with make() as one:
        if workers > 1 and not one.settings.chroma_url:
            raise KnowledgeConfigurationError(
                f"{workers} workers need a Chroma server: embedded Chroma is not safe across "
                "processes. Start one (`chroma run --path DIR`) and set ONE_CHROMA_URL, "
                "or serve with one worker"
            )
        if workers > 1 and "<" in make.__qualname__:  # a lambda, or a function inside one
            raise ValueError(
                f"{make.__qualname__} cannot be imported by a worker process: give `serve` "
                "a module-level function that builds the One"
            )
        one.runs.recover()
        if workers == 1:
            app = create_app(one, scheduler=scheduler)
            _warm(one)
            _freeze()
            uvicorn.run(app, host=host, port=port, log_level="warning")
            return
    os.environ[_WORKER_ENV] = json.dumps(
        {"make": f"{make.__module__}:{make.__qualname__}", "scheduler": scheduler}
    )
    uvicorn.run(
        f"{__name__}:worker_app",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        log_level="warning",
    )


def worker_app() -> Any:
    """The app of one of `serve`'s worker processes: uvicorn calls it in each, and it
    builds that process's `One` as `serve`'s `make` does, closed when the worker stops."""
    if not os.environ.get(_WORKER_ENV):
        raise RuntimeError(
            f"{_WORKER_ENV} is not set: start the workers with `one serve --workers N`"
        )
    spec = json.loads(os.environ[_WORKER_ENV])
    module, _, name = spec["make"].partition(":")
    make: Callable[[], One] = getattr(importlib.import_module(module), name)
    one = make()
    app = create_app(one, scheduler=spec["scheduler"], close=True)
    _warm(one)
    _freeze()
    return app


def _warm(one: One) -> None:
    """Build every creator's lexical search index before the first request, which would
    otherwise wait for it: seconds at 100,000 chunks, in each worker process."""
    for creator in one.creators():
        one.knowledge.retriever(creator.id).warm()


def _freeze() -> None:
    """Freeze what is loaded by now out of the garbage collector's sight (`gc.freeze`).

    The libraries, the app and `One` stay for the process's life; a full collection
    would otherwise walk those few hundred thousand objects each time, some 0.1 to 0.3 s
    with every request waiting.
    """
    gc.collect()
    gc.freeze()


def create_app(one: One, *, scheduler: bool = False, close: bool = False) -> Any:
    """The server's ASGI app over `one`; with `scheduler`, due schedules run in it too;
    with `close`, `one` is closed when the app shuts down."""
    stop = threading.Event()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        ticker = None
        if scheduler:
            ticker = threading.Thread(target=_schedule_loop, args=(one, stop), daemon=True)
            ticker.start()
        yield
        stop.set()
        if close:
            if ticker is not None:
                ticker.join()  # a tick under way finishes before `one` closes
            one.close()

    app = FastAPI(
        title="ONE",
        description="Run a creator's business with AI: creators, their clone, agents, runs.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.one = one
    _errors(app)

    # -- creators and content ----------------------------------------------------------

    @app.get("/health", tags=["server"])
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/creators", tags=["creators"])
    def creators(who: Who) -> list[dict[str, Any]]:
        return [_entity(c) for c in one.creators() if who.may(c.id)]

    @app.post("/creators", status_code=201, tags=["creators"])
    def add_creator(body: NewCreator, who: Who) -> dict[str, Any]:
        if not who.admin:
            raise HTTPException(403, "only an admin key adds creators (`one keys create --admin`)")
        return _entity(one.add_creator(body.name, body.niche))

    @app.get("/creators/{creator_id}", tags=["creators"])
    def get_creator(creator: Creator) -> dict[str, Any]:
        return _entity(creator)

    @app.get("/creators/{creator_id}/content", tags=["content"])
    def content(creator: Creator) -> list[dict[str, Any]]:
        return [_entity(e) for e in one.content(creator.id)]

    @app.put("/creators/{creator_id}/content/{filename}", tags=["content"])
    async def upload(creator: Creator, filename: str, request: Request) -> dict[str, Any]:
        data = await request.body()
        if not data:
            raise HTTPException(422, "the body is empty: send the file's bytes")
        report = await one.store.call(one.ingest_upload, creator.id, filename, data)
        return dataclasses.asdict(report)

    @app.post("/creators/{creator_id}/search", tags=["content"])
    def search(creator: Creator, body: SearchBody) -> list[dict[str, Any]]:
        hits = one.search(creator.id, body.query, k=body.k)
        return [
            {
                "score": h.score,
                "dense": h.dense,
                "lexical": h.lexical,
                "title": h.chunk.title,
                "kind": h.chunk.kind,
                "text": h.chunk.text,
            }
            for h in hits
        ]

    # -- the clone ---------------------------------------------------------------------

    @app.post("/creators/{creator_id}/clone/build", status_code=202, tags=["clone"])
    def build_clone(creator: Creator) -> dict[str, Any]:
        return run_json(one.build_clone(creator.id, wait=False))

    @app.get("/creators/{creator_id}/clone", tags=["clone"])
    def get_clone(creator: Creator) -> dict[str, Any]:
        found = one.store.entities.find(clone_entity_id(creator.id))
        if found is None:
            raise HTTPException(404, "no clone yet: POST /creators/{id}/clone/build")
        return _entity(found)

    @app.post("/creators/{creator_id}/clone/chat", tags=["clone"], response_model=None)
    def chat(creator: Creator, body: ChatBody) -> Any:
        if body.stream:
            stream = one.chat_stream(creator.id, body.fan, body.message, key=body.key)
            return StreamingResponse(_sse_chat(stream), media_type="text/event-stream")
        turn = one.chat(creator.id, body.fan, body.message, key=body.key)
        return {
            "text": turn.text,
            "withheld": turn.withheld,
            "sources": [s.model_dump(mode="json") for s in turn.sources],
            "run_id": turn.run.id,
        }

    # -- agents and runs ---------------------------------------------------------------

    @app.get("/creators/{creator_id}/agents", tags=["agents"])
    def agents(creator: Creator) -> list[dict[str, Any]]:
        return [_entity(e) for e in one.agents(creator.id)]

    @app.post("/creators/{creator_id}/agents/launch", status_code=202, tags=["agents"])
    def launch(creator: Creator) -> dict[str, Any]:
        return run_json(one.launch(creator.id, wait=False))

    @app.post("/creators/{creator_id}/agents/{agent}/runs", status_code=202, tags=["agents"])
    def run_agent(creator: Creator, agent: str, body: AgentRunBody) -> dict[str, Any]:
        try:
            one.registry.get(agent)
        except ConfigurationError as error:  # the agent in the path: not found
            raise HTTPException(404, str(error)) from None
        return run_json(one.run_agent(creator.id, agent, body.task, wait=False))

    @app.get("/creators/{creator_id}/runs", tags=["runs"])
    def runs(
        creator: Creator, limit: Annotated[int, Query(ge=1, le=500)] = 50
    ) -> list[dict[str, Any]]:
        return [run_json(r, events=False) for r in one.runs_of(creator.id, limit=limit)]

    @app.post("/creators/{creator_id}/runs", status_code=202, tags=["runs"])
    def start_run(creator: Creator, body: RunBody) -> dict[str, Any]:
        input = {**body.input, "creator_id": creator.id}
        return run_json(one.start(body.graph, input, run_id=body.run_id, wait=False))

    @app.get("/runs/{run_id}", tags=["runs"])
    def get_run(run: Owned) -> dict[str, Any]:
        return run_json(run)

    @app.post("/runs/{run_id}/resume", tags=["runs"])
    def resume(run: Owned, body: Annotated[ResumeBody | None, Body()] = None) -> dict[str, Any]:
        return run_json(one.runs.resume(run.id, body.value if body else None))

    @app.post("/runs/{run_id}/approve", tags=["runs"])
    def approve(run: Owned) -> dict[str, Any]:
        if not run.interrupts:
            raise HTTPException(409, f"run {run.id} is {run.status}, not waiting for approval")
        return run_json(one.runs.resume(run.id, {"approved": True}))

    @app.post("/runs/{run_id}/cancel", tags=["runs"])
    def cancel(run: Owned) -> dict[str, Any]:
        return run_json(one.runs.cancel(run.id))

    @app.get("/runs/{run_id}/events", tags=["runs"])
    def run_events(run: Owned) -> StreamingResponse:
        return StreamingResponse(_follow_run(one, run.id), media_type="text/event-stream")

    # -- schedules and events ------------------------------------------------------------

    @app.get("/creators/{creator_id}/schedules", tags=["schedules"])
    def schedules(creator: Creator) -> list[dict[str, Any]]:
        return [_entity(s) for s in Schedules(one.store).list(creator.id)]

    @app.post("/creators/{creator_id}/schedules", status_code=201, tags=["schedules"])
    def add_schedule(creator: Creator, body: ScheduleBody) -> dict[str, Any]:
        made = one.add_schedule(
            creator.id,
            body.target,
            body.name,
            body.cron,
            timezone=body.timezone,
            end=body.end,
            enabled=body.enabled,
        )
        return _entity(made)

    @app.delete("/schedules/{schedule_id}", tags=["schedules"])
    def remove_schedule(schedule_id: str, who: Who) -> dict[str, Any]:
        found = Schedules(one.store).get(schedule_id)
        if not who.may(str(found.properties["creatorId"])):
            raise HTTPException(403, "this schedule belongs to another creator")
        return _entity(Schedules(one.store).remove(schedule_id))

    @app.get("/creators/{creator_id}/events", tags=["events"])
    def events(
        creator: Creator,
        after: Annotated[int | None, Query(ge=0, description="only events after this seq")] = None,
        type: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[dict[str, Any]]:
        return [
            _event(e) for e in one.timeline(creator.id, after_seq=after, type=type, limit=limit)
        ]

    # -- OpenAI-compatible ---------------------------------------------------------------

    @app.get("/v1/models", tags=["openai"])
    def models(who: Who) -> dict[str, Any]:
        data = []
        for creator in one.creators():
            clone = one.store.entities.find(clone_entity_id(creator.id))
            if clone is not None and who.may(creator.id):
                data.append(
                    {
                        "id": model_id(creator),
                        "object": "model",
                        "created": int(clone.created_at.timestamp()),
                        "owned_by": creator.name,
                    }
                )
        return {"object": "list", "data": data}

    @app.post("/v1/chat/completions", tags=["openai"], response_model=None)
    def completions(
        body: Completion,
        secret: Key,
        idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
    ) -> Any:
        # The key is looked up here, not in a dependency (`Who`), which FastAPI would run
        # on a thread of its own: one handing over fewer for every turn.
        who = _identified(one, secret)
        creator = _model_creator(one, body.model, who)
        last = body.messages[-1]
        if last.role != "user":
            raise HTTPException(422, "the last message must be the fan's (role 'user')")
        message = _text_of(last)
        fan = body.user or f"api-key-{who.key_id[:12]}"  # the fan's memory: by `user`
        name = model_id(creator)
        completion_id = "chatcmpl-" + uuid.uuid4().hex
        if body.stream:
            stream = one.chat_stream(creator.id, fan, message, key=idempotency_key)
            return StreamingResponse(
                _openai_chunks(stream, completion_id, name), media_type="text/event-stream"
            )
        turn = one.chat(creator.id, fan, message, key=idempotency_key)
        usage = (turn.run.values.get("answer") or {}).get("usage") or {}
        return {
            "id": completion_id,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": name,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": turn.text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": int(usage.get("input_tokens", 0)),
                "completion_tokens": int(usage.get("output_tokens", 0)),
                "total_tokens": int(usage.get("input_tokens", 0))
                + int(usage.get("output_tokens", 0)),
            },
            "sources": [s.model_dump(mode="json") for s in turn.sources],
        }

    return _BodyLimit(app, one.settings.max_request_bytes)


def model_id(creator: Entity) -> str:
    """A clone's model name: its creator's name, in lower case with dashes."""
    return re.sub(r"[^a-z0-9]+", "-", creator.name.casefold()).strip("-") or creator.id


def _model_creator(one: One, model: str, who: Caller) -> Entity:
    """The creator whose clone `model` names; a creator's key names its own at once."""
    own = one.store.entities.find(who.creator_id) if who.creator_id else None
    for creator in [own] if own is not None and _names(own, model) else one.creators():
        if _names(creator, model):
            if not who.may(creator.id):
                raise HTTPException(403, f"the model {model!r} is another creator's clone")
            if one.store.entities.find(clone_entity_id(creator.id)) is None:
                raise HTTPException(404, f"{creator.name} has no clone yet; build it first")
            return creator
    raise HTTPException(404, f"no model {model!r}; list them with GET /v1/models")


def _names(creator: Entity, model: str) -> bool:
    return model in (model_id(creator), creator.id, clone_entity_id(creator.id))


def _text_of(message: Message) -> str:
    if isinstance(message.content, str):
        return message.content
    parts = [p.get("text", "") for p in message.content or [] if p.get("type") == "text"]
    return "".join(str(p) for p in parts)


def _sse(data: Any, event: str | None = None) -> str:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data, default=str)}\n\n"


def _sse_chat(stream: Any) -> Iterator[str]:
    try:
        for piece in stream:
            yield _sse({"text": piece}, "delta")
    except (OntologyError, AgentsError) as error:
        yield _sse({"detail": str(error)}, "error")
        return
    turn = stream.turn
    yield _sse(
        {
            "text": turn.text,
            "withheld": turn.withheld,
            "sources": [s.model_dump(mode="json") for s in turn.sources],
            "run_id": turn.run.id,
        },
        "done",
    )


def _openai_chunks(stream: Any, completion_id: str, model: str) -> Iterator[str]:
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        body = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return f"data: {json.dumps(body)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    try:
        for piece in stream:
            yield chunk({"content": piece})
    except (OntologyError, AgentsError) as error:
        yield f"data: {json.dumps({'error': {'message': str(error)}})}\n\n"
        return
    yield chunk({}, "stop")
    yield "data: [DONE]\n\n"


_ENDED = {"run_completed", "run_failed", "run_interrupted", "run_cancelled"}


def _follow_run(one: One, run_id: str, poll: float = 0.2) -> Iterator[str]:
    """The run's events as they are appended, until it ends (or waits at a gate): its
    status is its latest `run_*` ending, unless a `run_resumed` came after it."""
    position, ended = 0, None
    while True:
        events = one.store.events.read_run(run_id, position)
        for event in events:
            yield _sse(_event(event), "event")
            if event.type in _ENDED or event.type == "run_resumed":
                ended = event.type if event.type in _ENDED else None
        position += len(events)
        if ended is not None:
            yield _sse({"status": ended.removeprefix("run_")}, "end")
            return
        time.sleep(poll)


def _schedule_loop(one: One, stop: threading.Event) -> None:
    ticker = Scheduler(one, enqueue=one.enqueuer())
    while not stop.is_set():
        with contextlib.suppress(Exception):  # a failing run is in its events; keep ticking
            ticker.tick()
        stop.wait(one.settings.scheduler_interval)


def _entity(e: Entity) -> dict[str, Any]:
    return e.model_dump(mode="json")


def _event(e: Event) -> dict[str, Any]:
    return e.model_dump(mode="json")


def _error(request: Request, status: int, detail: str, **extra: Any) -> JSONResponse:
    """An error as `{"detail": ...}`; under `/v1/` also in OpenAI's shape (`error.message`),
    which the OpenAI client and LangChain show to their user."""
    body: dict[str, Any] = {"detail": detail, **extra}
    if request.url.path.startswith("/v1/"):
        kind = "invalid_request_error" if status < 500 else "server_error"
        body["error"] = {"message": detail, "type": kind, "code": status}
    return JSONResponse(body, status_code=status)


_AGAIN = (
    "send the request again (with the same Idempotency-Key, a run that had begun carries on "
    "where it stopped)"
)


def _errors(app: FastAPI) -> None:
    def handler(status: int) -> Any:
        async def handle(request: Request, error: Exception) -> JSONResponse:
            return _error(request, status, str(error))

        return handle

    app.add_exception_handler(NotFoundError, handler(404))
    app.add_exception_handler(InvalidInputError, handler(422))
    app.add_exception_handler(IdempotencyConflictError, handler(409))
    app.add_exception_handler(ConstraintViolationError, handler(409))
    app.add_exception_handler(ConfigurationError, handler(422))
    app.add_exception_handler(KnowledgeError, handler(422))
    app.add_exception_handler(AgentsError, handler(502))
    app.add_exception_handler(OntologyError, handler(500))

    def overloaded(request: Request, detail: str) -> JSONResponse:
        # Overloaded, not broken: the write that waited was not made, and the request can
        # be sent again (OpenAI's client does so by itself on a 503); with the same
        # Idempotency-Key, a turn that had begun carries on where it stopped.
        response = _error(request, 503, detail)
        response.headers["Retry-After"] = str(BUSY_RETRY_AFTER_SECONDS)
        return response

    async def busy(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, DatabaseLockedError)
        return overloaded(request, locked(Path(error.url).name, error.waited_s, again=_AGAIN))

    app.add_exception_handler(DatabaseLockedError, busy)

    async def sqlite_error(request: Request, error: Exception) -> JSONResponse:
        # The checkpoints' SQLite (LangGraph's saver) raises sqlite3's own errors.
        if "locked" not in str(error):
            return _error(request, 500, f"the checkpoint database failed: {error}")
        waited = request.app.state.one.settings.busy_timeout
        return overloaded(request, locked("of checkpoints", waited, again=_AGAIN))

    app.add_exception_handler(sqlite3.OperationalError, sqlite_error)

    async def http(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, StarletteHTTPException)
        response = _error(request, error.status_code, str(error.detail))
        if error.status_code == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
        return response

    async def invalid(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        problems = [
            f"{'.'.join(str(p) for p in e['loc'] if p != 'body') or 'body'}: {e['msg']}"
            for e in error.errors()
        ]
        # jsonable: an error's `input` may be bytes and its `ctx` an exception
        return _error(request, 422, "; ".join(problems), errors=jsonable_encoder(error.errors()))

    app.add_exception_handler(StarletteHTTPException, http)
    app.add_exception_handler(RequestValidationError, invalid)
