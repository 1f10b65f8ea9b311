"""ONE's HTTP server: a key on every route, bodies checked and capped, the clone behind the
official OpenAI client and LangChain, and the REST routes' happy paths."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import shutil
import sqlite3
import time
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import httpx
import openai
import pytest
from fastapi.routing import APIRoute
from langchain_openai import ChatOpenAI
from starlette.testclient import TestClient

from graphs import agent as agent_graph
from graphs import clone
from knowledge.errors import KnowledgeError
from one import _keys
from one._app import One
from one._schedules import Schedules
from one._server import create_app, serve, worker_app
from tests.agents.test_specs import SAMPLES
from tests.knowledge.conftest import count_lexical_indexes
from tests.one import serve_child
from tests.one.conftest import Brain, brain_model, make_one, with_maya

AGENT_OUTPUTS: dict[str, Any] = {type(sample).__name__: sample for sample in SAMPLES.values()}
TEXT = Brain.model_fields["text"].default
NOTE = b"# Sourdough starter\n\nFeed the starter rye flour twice a day; it smells of apples.\n"


@dataclass(frozen=True)
class Template:
    """A data directory made once for the module: Maya with her content and clone, Ben,
    and a key each (and an admin's). Each test works on its own copy."""

    data: Path
    maya: str
    ben: str
    keys: tuple[str, str, str]  # the admin's, Maya's, Ben's


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    data = tmp_path_factory.mktemp("server") / "data"
    with make_one(data, model=brain_model()) as one:
        maya = with_maya(one)
        assert one.build_clone(maya).status == "completed"
        ben = one.add_creator("Ben Ortiz", "woodworking").id
        admin, mayas, bens = (_keys.create(one.store, who)[1] for who in (None, maya, ben))
    return Template(data, maya, ben, (admin, mayas, bens))


def copy_of(template: Template, tmp_path: Path, **settings: Any) -> One:
    """ONE on a copy of the template, whose model also gives every built-in agent's output."""
    data = shutil.copytree(template.data, tmp_path / "data")
    return make_one(data, model=brain_model(**AGENT_OUTPUTS), **settings)


@pytest.fixture
def one(template: Template, tmp_path: Path) -> Iterator[One]:
    with copy_of(template, tmp_path) as made:
        yield made


@dataclass
class Server:
    one: One
    client: TestClient
    maya: str
    ben: str
    admin: str  # the keys themselves
    mayas: str
    bens: str

    def as_(self, key: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"} if key else {}


@contextmanager
def serving(one: One, template: Template) -> Iterator[Server]:
    with TestClient(create_app(one)) as client:
        yield Server(one, client, template.maya, template.ben, *template.keys)
        settle(one)


@pytest.fixture
def server(one: One, template: Template) -> Iterator[Server]:
    with serving(one, template) as served:
        yield served


@pytest.fixture(scope="module")
def shared(template: Template, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the tests that change nothing (refused requests), to keep them fast."""
    with copy_of(template, tmp_path_factory.mktemp("shared")) as one, serving(one, template) as s:
        yield s


def settle(one: One, timeout: float = 30.0) -> None:
    """Wait for the runs the server's pool drives, so none outlives the test's ONE."""
    deadline = time.monotonic() + timeout
    while any(r.status == "accepted" for r in one.runs_of(limit=500)):
        assert time.monotonic() < deadline, "a run did not finish"
        time.sleep(0.05)


def calls(one: One) -> list[dict[str, Any]]:
    return cast(Brain, one.model.chat).calls


def finished(s: Server, run_id: str, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        run: dict[str, Any] = s.client.get(f"/runs/{run_id}", headers=s.as_(s.admin)).json()
        if run["status"] != "accepted":
            return run
        assert time.monotonic() < deadline, f"run {run_id} still accepted"
        time.sleep(0.05)


def sse(text: str) -> list[tuple[str, Any]]:
    """Server-sent events as (event, data) pairs."""
    events = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((fields.get("event", "message"), json.loads(fields["data"])))
    return events


# -- every route takes a key -----------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # the route's template
    access: str  # "public", "any key", "admin" or "owner"
    body: Any = None
    admin_status: int = 200


ROUTES = (
    Route("GET", "/health", "public"),
    Route("GET", "/creators", "any key"),
    Route("POST", "/creators", "admin", {"name": "Cleo Park"}, 201),
    Route("GET", "/creators/{creator_id}", "owner"),
    Route("GET", "/creators/{creator_id}/content", "owner"),
    Route("PUT", "/creators/{creator_id}/content/{filename}", "owner", NOTE),
    Route("POST", "/creators/{creator_id}/search", "owner", {"query": "pasta water"}),
    Route("POST", "/creators/{creator_id}/clone/build", "owner", None, 202),
    Route("GET", "/creators/{creator_id}/clone", "owner"),
    Route("POST", "/creators/{creator_id}/clone/chat", "owner", {"fan": "sam", "message": "Hi"}),
    Route("GET", "/creators/{creator_id}/agents", "owner"),
    Route("POST", "/creators/{creator_id}/agents/launch", "owner", None, 202),
    Route("POST", "/creators/{creator_id}/agents/{agent}/runs", "owner", {}, 202),
    Route("GET", "/creators/{creator_id}/runs", "owner"),
    Route("POST", "/creators/{creator_id}/runs", "owner", {"graph": clone.BUILD}, 202),
    Route("GET", "/runs/{run_id}", "owner"),
    Route("POST", "/runs/{run_id}/resume", "owner", {"value": None}),
    Route("POST", "/runs/{run_id}/approve", "owner", None, 409),  # the run is not waiting
    Route("POST", "/runs/{run_id}/cancel", "owner"),
    Route("GET", "/runs/{run_id}/events", "owner"),
    Route("GET", "/creators/{creator_id}/schedules", "owner"),
    Route(
        "POST",
        "/creators/{creator_id}/schedules",
        "owner",
        {"target": "agent", "name": "strategy_agent", "cron": "0 6 * * 1"},
        201,
    ),
    Route("DELETE", "/schedules/{schedule_id}", "owner"),
    Route("GET", "/creators/{creator_id}/events", "owner"),
    Route("GET", "/v1/models", "any key"),
    Route(
        "POST",
        "/v1/chat/completions",
        "owner",
        {"model": "maya-lin", "messages": [{"role": "user", "content": "Hi"}]},
    ),
)
GUARDED = [r for r in ROUTES if r.access != "public"]
OWNED = [r for r in ROUTES if r.access == "owner"]


def _id(route: Route) -> str:
    return f"{route.method} {route.path}"


def call(s: Server, route: Route, key: str | None) -> Any:
    """`route` on Maya's things (her creator, her clone-build run, a schedule of hers)."""
    build = s.one.runs_of(s.maya, limit=500)[-1]  # the first run: building the clone
    assert build.graph == clone.BUILD
    schedule = Schedules(s.one.store).add(
        s.maya, "agent", "research_agent", "0 7 * * 1", now=s.one.now()
    )
    path = route.path.format(
        creator_id=s.maya,
        filename="starter.md",
        agent="strategy_agent",
        run_id=build.id,
        schedule_id=schedule.id,
    )
    content = route.body if isinstance(route.body, bytes) else None
    body = None if content is not None else route.body
    return s.client.request(route.method, path, headers=s.as_(key), json=body, content=content)


def test_the_table_lists_every_route_of_the_app(shared: Server) -> None:
    app = create_app(shared.one).app  # inside the body limit
    served = {(m, r.path) for r in app.routes if isinstance(r, APIRoute) for m in r.methods or ()}
    assert served == {(r.method, r.path) for r in ROUTES}


def test_the_schema_shows_no_dependency_as_a_query_parameter(shared: Server) -> None:
    """Regression: aliases made inside `create_app` became query fields `who`, `creator`."""
    schema = shared.client.get("/openapi.json").json()
    names = {
        p["name"]
        for operations in schema["paths"].values()
        for operation in operations.values()
        for p in operation.get("parameters", [])
    }
    assert names == {
        "creator_id", "filename", "agent", "run_id", "schedule_id", "limit", "after", "type",
        "authorization", "x-api-key", "idempotency-key",
    }  # fmt: skip


def test_health_needs_no_key(shared: Server) -> None:
    assert shared.client.get("/health").json() == {"status": "ok"}


@pytest.mark.parametrize("route", GUARDED, ids=_id)
def test_no_key_is_401_and_says_how_to_send_one(shared: Server, route: Route) -> None:
    response = call(shared, route, None)
    assert response.status_code == 401, response.text
    assert "Authorization: Bearer one_" in response.json()["detail"]
    assert "one keys create" in response.json()["detail"]


@pytest.mark.parametrize("route", GUARDED, ids=_id)
def test_an_unknown_key_is_401(shared: Server, route: Route) -> None:
    response = call(shared, route, "one_" + "x" * 40)
    assert response.status_code == 401, response.text
    assert "unknown or revoked API key" in response.json()["detail"]


@pytest.mark.parametrize(
    "headers",
    [{"Authorization": "Basic abc"}, {"Authorization": "Bearer "}, {"X-API-Key": "nope"}],
)
def test_a_malformed_or_wrong_key_is_401(shared: Server, headers: dict[str, str]) -> None:
    response = shared.client.get(f"/creators/{shared.maya}", headers=headers)
    assert response.status_code == 401
    assert "Bearer" in response.json()["detail"]


def test_a_revoked_key_is_401(server: Server) -> None:
    entity, key = _keys.create(server.one.store, server.maya)
    assert server.client.get("/creators", headers=server.as_(key)).status_code == 200
    _keys.revoke(server.one.store, entity.id)
    assert server.client.get("/creators", headers=server.as_(key)).status_code == 401


def test_the_x_api_key_header_works_too(shared: Server) -> None:
    response = shared.client.get(f"/creators/{shared.maya}", headers={"X-API-Key": shared.mayas})
    assert response.status_code == 200 and response.json()["name"] == "Maya Lin"


@pytest.mark.parametrize("route", OWNED, ids=_id)
def test_another_creators_key_is_403_and_nothing_runs(shared: Server, route: Route) -> None:
    before = (len(calls(shared.one)), len(shared.one.runs_of(limit=500)))
    response = call(shared, route, shared.bens)
    assert response.status_code == 403, response.text
    assert "another creator" in response.json()["detail"]
    assert (len(calls(shared.one)), len(shared.one.runs_of(limit=500))) == before


def test_only_an_admin_adds_creators(shared: Server) -> None:
    route = next(r for r in ROUTES if r.path == "/creators" and r.method == "POST")
    response = call(shared, route, shared.mayas)
    assert response.status_code == 403 and "admin" in response.json()["detail"]
    assert "Cleo Park" not in [c.name for c in shared.one.creators()]


def test_a_creators_key_lists_only_their_creator_and_models(shared: Server) -> None:
    creators = shared.client.get("/creators", headers=shared.as_(shared.bens)).json()
    assert [c["name"] for c in creators] == ["Ben Ortiz"]
    models = shared.client.get("/v1/models", headers=shared.as_(shared.bens)).json()
    assert models["data"] == []  # Ben has no clone, and Maya's is not his


@pytest.mark.parametrize("route", GUARDED, ids=_id)
def test_an_admin_key_works_everywhere(server: Server, route: Route) -> None:
    response = call(server, route, server.admin)
    assert response.status_code == route.admin_status, response.text


def test_the_owners_key_works_on_their_things(server: Server) -> None:
    for route in OWNED:
        response = call(server, route, server.mayas)
        assert response.status_code == route.admin_status, (_id(route), response.text)


# -- bodies ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "says"),
    [
        ("/creators/{maya}/clone/chat", {"fan": "sam"}, "message: Field required"),
        ("/creators/{maya}/clone/chat", {"fan": "sam", "message": ""}, "message: String should"),
        ("/creators/{maya}/clone/chat", {"fan": "s", "message": "hi", "x": 1}, "x: Extra inputs"),
        ("/creators/{maya}/search", {"query": "q", "k": 0}, "k: Input should be greater"),
        ("/creators/{maya}/schedules", {"target": "robot", "name": "a", "cron": "*"}, "target:"),
        ("/v1/chat/completions", {"model": "maya-lin", "messages": []}, "messages: List should"),
        ("/creators", {}, "name: Field required"),
    ],
)
def test_a_malformed_body_is_422_and_names_the_field(
    shared: Server, path: str, body: Any, says: str
) -> None:
    before = len(calls(shared.one))
    url = path.format(maya=shared.maya)
    response = shared.client.post(url, json=body, headers=shared.as_(shared.admin))
    assert response.status_code == 422, response.text
    assert says in response.json()["detail"]
    assert len(calls(shared.one)) == before


def test_a_body_that_is_not_json_is_422(server: Server) -> None:
    response = server.client.post(
        f"/creators/{server.maya}/clone/chat",
        content=b"{not json",
        headers={**server.as_(server.admin), "Content-Type": "application/json"},
    )
    assert response.status_code == 422 and "JSON" in response.json()["detail"]


def test_an_empty_upload_is_422(server: Server) -> None:
    url = f"/creators/{server.maya}/content/empty.md"
    response = server.client.put(url, content=b"", headers=server.as_(server.admin))
    assert response.status_code == 422 and "send the file's bytes" in response.json()["detail"]


@pytest.fixture
def small(template: Template, tmp_path: Path) -> Iterator[tuple[One, TestClient, str]]:
    with (
        copy_of(template, tmp_path, max_request_bytes=2000) as one,
        TestClient(create_app(one)) as client,
    ):
        yield one, client, template.keys[0]


def _big_chat() -> dict[str, Any]:
    return {"model": "maya-lin", "messages": [{"role": "user", "content": "salt? " * 1000}]}


def test_an_oversize_body_with_a_length_is_413_before_the_model(
    small: tuple[One, TestClient, str],
) -> None:
    one, client, key = small
    before = len(calls(one))
    response = client.post("/v1/chat/completions", json=_big_chat(), headers={"X-API-Key": key})
    assert response.status_code == 413
    assert "over 2000 bytes (ONE_MAX_REQUEST_BYTES)" in response.json()["detail"]
    assert len(calls(one)) == before


def test_an_oversize_chunked_body_is_413_before_the_model(
    small: tuple[One, TestClient, str],
) -> None:
    one, client, key = small
    before = len(calls(one))

    def chunks() -> Iterator[bytes]:
        yield json.dumps(_big_chat()).encode()

    headers = {"X-API-Key": key, "Content-Type": "application/json"}
    response = client.post("/v1/chat/completions", content=chunks(), headers=headers)
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert len(calls(one)) == before


def test_a_small_chunked_body_gets_through(small: tuple[One, TestClient, str]) -> None:
    one, client, key = small
    before = len(calls(one))
    body = {"model": "maya-lin", "messages": [{"role": "user", "content": "salt?"}]}

    def chunks() -> Iterator[bytes]:
        yield json.dumps(body).encode()

    headers = {"X-API-Key": key, "Content-Type": "application/json"}
    response = client.post("/v1/chat/completions", content=chunks(), headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == TEXT
    assert len(calls(one)) > before


def test_the_limit_stops_reading_a_chunked_body_at_the_limit(
    small: tuple[One, TestClient, str],
) -> None:
    """Straight on ASGI: chunks of 500 bytes, the limit 2000; the fifth chunk ends it."""
    app = create_app(small[0])
    pulled: list[int] = []
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> MutableMapping[str, Any]:
        pulled.append(1)
        return {"type": "http.request", "body": b"x" * 500, "more_body": len(pulled) < 100}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/creators", "headers": []}
    asyncio.run(app(scope, receive, send))
    assert len(pulled) == 5
    assert sent[0]["status"] == 413


# -- the OpenAI-compatible API ----------------------------------------------------------------


def _openai(s: Server, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url="http://testserver/v1", api_key=key, http_client=s.client)


def test_the_openai_client_lists_the_clone_as_a_model(server: Server) -> None:
    models = _openai(server, server.mayas).models.list()
    assert [m.id for m in models.data] == ["maya-lin"]
    assert models.data[0].owned_by == "Maya Lin"


def test_the_openai_client_chats_with_the_clone(server: Server) -> None:
    client = _openai(server, server.mayas)
    reply = client.chat.completions.create(
        model="maya-lin", messages=[{"role": "user", "content": "How salty is pasta water?"}]
    )
    assert reply.choices[0].message.content == TEXT
    assert reply.choices[0].finish_reason == "stop" and reply.model == "maya-lin"
    assert "How salty is pasta water?" in str(calls(server.one)[-1]["messages"])


def test_the_openai_client_streams_from_the_clone(server: Server) -> None:
    client = _openai(server, server.mayas)
    stream = client.chat.completions.create(
        model="maya-lin", messages=[{"role": "user", "content": "Hi"}], stream=True
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == TEXT
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_langchain_invokes_and_streams_the_clone(server: Server) -> None:
    chat = ChatOpenAI(
        base_url="http://testserver/v1",
        api_key=server.mayas,
        http_client=server.client,
        model="maya-lin",
    )
    assert chat.invoke("What knife first?").content == TEXT
    assert "".join(str(c.content) for c in chat.stream("And then?")) == TEXT


def _ask(client: openai.OpenAI, user: str, question: str) -> None:
    messages: Any = [{"role": "user", "content": question}]
    client.chat.completions.create(model="maya-lin", messages=messages, user=user)


def test_each_fan_by_user_has_their_own_memory(server: Server) -> None:
    client = _openai(server, server.mayas)
    _ask(client, "sam", "Can I freeze fresh basil?")
    _ask(client, "sam", "And parsley?")
    assert "Can I freeze fresh basil?" in str(calls(server.one)[-1]["messages"])
    _ask(client, "ana", "What about mint?")
    prompt = str(calls(server.one)[-1]["messages"])
    assert "What about mint?" in prompt and "basil" not in prompt


@contextmanager
def _writing_elsewhere(one: One, file: str = "one.db") -> Iterator[sqlite3.Connection]:
    """Another process's writer holding ONE's database (a transaction begun, not ended)."""
    other = sqlite3.connect(one.settings.data_dir / file, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        yield other
    finally:
        if other.in_transaction:
            other.rollback()
        other.close()


def _interactions(one: One, message: str) -> int:
    page = one.store.events.timeline(type="clone_interaction", limit=100)
    return sum(1 for e in page.items if e.metadata.get("message") == message)


def test_a_database_another_writer_holds_is_503_to_send_again_and_nothing_is_lost(
    template: Template, tmp_path: Path
) -> None:
    with copy_of(template, tmp_path, busy_timeout=0.2) as one, serving(one, template) as s:
        body = {"model": "maya-lin", "user": "sam", "messages": [{"role": "user", "content": "Hi"}]}
        with _writing_elsewhere(one):
            busy = s.client.post("/v1/chat/completions", json=body, headers=s.as_(s.mayas))
        assert busy.status_code == 503, busy.text
        assert busy.headers["Retry-After"] == "1"
        message = busy.json()["error"]["message"]
        assert "the database one.db stayed locked by another writer" in message
        assert "ONE_BUSY_TIMEOUT" in message  # the server's setting, not Store.open's
        assert str(one.settings.data_dir) not in message  # no server paths to callers
        assert _interactions(one, "Hi") == 0
        again = s.client.post("/v1/chat/completions", json=body, headers=s.as_(s.mayas))
        assert again.status_code == 200, again.text
        assert again.json()["choices"][0]["message"]["content"] == TEXT
        assert _interactions(one, "Hi") == 1
        assert {r.status for r in one.runs_of(limit=500) if r.graph == clone.CHAT} == {"completed"}


def test_checkpoints_another_writer_holds_are_503_and_the_turn_carries_on_when_sent_again(
    template: Template, tmp_path: Path
) -> None:
    """The turn began (accepted, answered) and could not write its checkpoint: 503; sent
    again with the same Idempotency-Key, it carries on, and its answer is recorded once."""
    with copy_of(template, tmp_path, busy_timeout=0.2) as one, serving(one, template) as s:
        body = {"model": "maya-lin", "user": "sam", "messages": [{"role": "user", "content": "Hi"}]}
        headers = {**s.as_(s.mayas), "Idempotency-Key": "req-7"}
        with _writing_elsewhere(one, "checkpoints.db"):
            busy = s.client.post("/v1/chat/completions", json=body, headers=headers)
        assert busy.status_code == 503, busy.text
        assert busy.headers["Retry-After"] == "1"
        message = busy.json()["error"]["message"]
        assert "the database of checkpoints stayed locked by another writer" in message
        assert "ONE_BUSY_TIMEOUT" in message
        [turn] = [r for r in one.runs_of(limit=500) if r.graph == clone.CHAT]
        assert turn.status == "failed"
        again = s.client.post("/v1/chat/completions", json=body, headers=headers)
        assert again.status_code == 200, again.text
        assert again.json()["choices"][0]["message"]["content"] == TEXT
        assert _interactions(one, "Hi") == 1
        assert one.runs.get(turn.id).status == "completed"


def test_the_openai_client_sends_a_503_again_by_itself(template: Template, tmp_path: Path) -> None:
    with copy_of(template, tmp_path, busy_timeout=0.2) as one, serving(one, template) as s:
        statuses: list[int] = []
        with _writing_elsewhere(one) as other:

            def answered(response: httpx.Response) -> None:
                statuses.append(response.status_code)
                if response.status_code == 503:
                    other.rollback()  # the other writer is done: the retry gets through

            s.client.event_hooks["response"].append(answered)
            _ask(_openai(s, s.mayas), "sam", "Is a carbon steel pan worth it?")
        assert statuses == [503, 200]
        assert _interactions(one, "Is a carbon steel pan worth it?") == 1


def test_another_creators_key_cannot_use_the_clone(shared: Server) -> None:
    with pytest.raises(openai.PermissionDeniedError, match="another creator's clone"):
        _ask(_openai(shared, shared.bens), "sam", "Hi")


def test_an_unknown_model_is_404_and_says_where_to_look(shared: Server) -> None:
    with pytest.raises(openai.NotFoundError, match="GET /v1/models"):
        messages: Any = [{"role": "user", "content": "Hi"}]
        _openai(shared, shared.admin).chat.completions.create(model="gpt-4o", messages=messages)


def test_a_creator_without_a_clone_is_404_and_says_build_it(shared: Server) -> None:
    with pytest.raises(openai.NotFoundError, match="no clone yet"):
        messages: Any = [{"role": "user", "content": "Hi"}]
        _openai(shared, shared.bens).chat.completions.create(model="ben-ortiz", messages=messages)


def test_the_last_message_must_be_the_users(shared: Server) -> None:
    messages: Any = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
    ]
    with pytest.raises(openai.UnprocessableEntityError, match="role 'user'"):
        _openai(shared, shared.mayas).chat.completions.create(model="maya-lin", messages=messages)


# -- REST ---------------------------------------------------------------------------------


def test_an_admin_adds_a_creator_once(server: Server) -> None:
    headers = server.as_(server.admin)
    made = server.client.post(
        "/creators", json={"name": "Cleo Park", "niche": "tea"}, headers=headers
    )
    assert made.status_code == 201 and made.json()["properties"]["niche"] == "tea"
    again = server.client.post("/creators", json={"name": "cleo park"}, headers=headers)
    assert again.json()["id"] == made.json()["id"]
    got = server.client.get(f"/creators/{made.json()['id']}", headers=headers)
    assert got.json()["name"] == "Cleo Park"


def test_uploaded_content_is_listed_and_found(server: Server) -> None:
    headers = server.as_(server.mayas)
    url = f"/creators/{server.maya}/content"
    put = server.client.put(f"{url}/sourdough.md", content=NOTE, headers=headers)
    assert put.status_code == 200, put.text
    listed = server.client.get(url, headers=headers).json()
    assert any("Sourdough" in json.dumps(e) for e in listed)
    body = {"query": "sourdough starter rye flour", "k": 3}
    hits = server.client.post(f"/creators/{server.maya}/search", json=body, headers=headers)
    assert hits.status_code == 200
    assert "rye flour" in hits.json()[0]["text"]


def test_the_clone_chats_as_json(server: Server) -> None:
    body = {"fan": "sam", "message": "How do I hold a knife?"}
    response = server.client.post(
        f"/creators/{server.maya}/clone/chat", json=body, headers=server.as_(server.mayas)
    )
    assert response.status_code == 200, response.text
    turn = response.json()
    assert turn["text"] == TEXT and turn["withheld"] is False and turn["sources"]
    assert server.client.get(f"/runs/{turn['run_id']}", headers=server.as_(server.mayas)).json()[
        "status"
    ] == ("completed")


def test_the_clone_streams_its_reply_as_server_sent_events(server: Server) -> None:
    body = {"fan": "sam", "message": "How do I hold a knife?", "stream": True}
    response = server.client.post(
        f"/creators/{server.maya}/clone/chat", json=body, headers=server.as_(server.mayas)
    )
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse(response.text)
    names = [name for name, _ in events]
    assert names[-1] == "done" and set(names[:-1]) == {"delta"}
    assert "".join(data["text"] for name, data in events if name == "delta") == TEXT
    done = events[-1][1]
    assert done["text"] == TEXT and done["sources"] and done["run_id"]


def test_the_clone_is_shown_and_a_repeat_build_is_the_same_run(server: Server) -> None:
    headers = server.as_(server.mayas)
    got = server.client.get(f"/creators/{server.maya}/clone", headers=headers)
    assert got.status_code == 200 and got.json()["type"] == "ai_clone"
    built = server.client.post(f"/creators/{server.maya}/clone/build", headers=headers)
    assert built.status_code == 202 and built.json()["status"] == "completed"
    none = server.client.get(f"/creators/{server.ben}/clone", headers=server.as_(server.bens))
    assert none.status_code == 404 and "clone/build" in none.json()["detail"]


def test_launching_registers_the_agents_and_writes_the_plan(server: Server) -> None:
    headers = server.as_(server.mayas)
    response = server.client.post(f"/creators/{server.maya}/agents/launch", headers=headers)
    assert response.status_code == 202
    run = finished(server, response.json()["id"])
    assert run["status"] == "completed", run
    agents = server.client.get(f"/creators/{server.maya}/agents", headers=headers).json()
    assert len(agents) == len(SAMPLES)
    again = server.client.post(f"/creators/{server.maya}/agents/launch", headers=headers)
    assert again.json()["id"] == run["id"]  # launched once


def test_an_agent_run_is_accepted_then_finishes_and_its_events_stream(server: Server) -> None:
    headers = server.as_(server.mayas)
    url = f"/creators/{server.maya}/agents/research_agent/runs"
    response = server.client.post(url, json={"task": "Find trends"}, headers=headers)
    assert response.status_code == 202 and response.json()["graph"] == agent_graph.NAME
    run_id = response.json()["id"]
    events = sse(server.client.get(f"/runs/{run_id}/events", headers=headers).text)
    assert events[0][1]["type"] == "run_accepted"
    assert events[-1] == ("end", {"status": "completed"})
    assert {name for name, _ in events[:-1]} == {"event"}
    assert finished(server, run_id)["status"] == "completed"
    listed = server.client.get(f"/creators/{server.maya}/runs", headers=headers).json()
    assert run_id in [r["id"] for r in listed]


def test_an_unknown_agent_is_404_and_lists_the_known(server: Server) -> None:
    url = f"/creators/{server.maya}/agents/chef_agent/runs"
    response = server.client.post(url, json={}, headers=server.as_(server.mayas))
    assert response.status_code == 404 and "strategy_agent" in response.json()["detail"]


def test_a_run_is_cancelled(server: Server) -> None:
    run_id, _ = server.one.runs.submit(
        agent_graph.NAME, {"creator_id": server.maya, "agent": "strategy_agent", "task": None}
    )
    headers = server.as_(server.mayas)
    cancelled = server.client.post(f"/runs/{run_id}/cancel", headers=headers)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert server.client.get(f"/runs/{run_id}", headers=headers).json()["status"] == "cancelled"
    events = sse(server.client.get(f"/runs/{run_id}/events", headers=headers).text)
    assert events[-1] == ("end", {"status": "cancelled"})


def test_schedules_are_added_listed_and_removed(server: Server) -> None:
    headers = server.as_(server.mayas)
    url = f"/creators/{server.maya}/schedules"
    body = {"target": "graph", "name": "daily_operations", "cron": "0 8 * * *"}
    made = server.client.post(url, json=body, headers=headers)
    assert made.status_code == 201, made.text
    schedule_id = made.json()["id"]
    assert schedule_id in [s["id"] for s in server.client.get(url, headers=headers).json()]
    gone = server.client.delete(f"/schedules/{schedule_id}", headers=headers)
    assert gone.status_code == 200
    assert schedule_id not in [s["id"] for s in server.client.get(url, headers=headers).json()]


def test_a_bad_cron_is_422_with_the_reason(server: Server) -> None:
    body = {"target": "agent", "name": "strategy_agent", "cron": "every monday"}
    response = server.client.post(
        f"/creators/{server.maya}/schedules", json=body, headers=server.as_(server.mayas)
    )
    assert response.status_code == 422
    assert "every monday" in response.json()["detail"]


def test_events_are_listed_and_paged_with_after(server: Server) -> None:
    headers = server.as_(server.mayas)
    url = f"/creators/{server.maya}/events"
    events = server.client.get(url, params={"limit": 1000}, headers=headers).json()
    assert events[0]["type"] == "creator_created"  # in the order they happened
    middle = sorted(e["seq"] for e in events)[len(events) // 2]  # `after` is by append order
    later = server.client.get(url, params={"after": middle, "limit": 1000}, headers=headers)
    following = sorted((e for e in events if e["seq"] > middle), key=lambda e: e["seq"])
    assert later.json() == following != []  # in the order of appending
    typed = server.client.get(url, params={"type": "clone_created"}, headers=headers).json()
    assert [e["type"] for e in typed] == ["clone_created"]


# -- errors that name the fix -------------------------------------------------------------


def test_an_unknown_creator_is_404_and_says_how_to_list_them(shared: Server) -> None:
    response = shared.client.get("/creators/nobody", headers=shared.as_(shared.admin))
    assert response.status_code == 404 and "GET /creators" in response.json()["detail"]


def test_an_unknown_run_is_404(shared: Server) -> None:
    run_id = "00000000-0000-4000-8000-000000000000"
    response = shared.client.get(f"/runs/{run_id}", headers=shared.as_(shared.admin))
    assert response.status_code == 404 and run_id in response.json()["detail"]


def test_a_run_id_that_is_not_a_uuid_is_422(shared: Server) -> None:
    response = shared.client.get("/runs/not-a-run", headers=shared.as_(shared.admin))
    assert response.status_code == 422 and "not a UUID" in response.json()["detail"]


def test_an_unknown_schedule_is_404(shared: Server) -> None:
    response = shared.client.delete("/schedules/nope", headers=shared.as_(shared.admin))
    assert response.status_code == 404 and "nope" in response.json()["detail"]


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """What `serve` hands uvicorn (uvicorn's `run` replaced: nothing listens)."""
    import uvicorn

    served: dict[str, Any] = {}

    def run(app: Any, **options: Any) -> None:
        served.update(options, app=app, frozen=gc.get_freeze_count())

    monkeypatch.setattr(uvicorn, "run", run)
    return served


def _serve_a_copy(template: Template, tmp_path: Path) -> list[One]:
    """`serve` on a copy of the template (uvicorn's `run` replaced); the ONEs it made."""
    made: list[One] = []

    def make() -> One:
        made.append(copy_of(template, tmp_path))
        return made[-1]

    try:
        serve(make, host="127.0.0.1", port=8123)
    finally:
        gc.unfreeze()  # this test process goes on collecting what serve froze
    return made


def test_serve_freezes_what_is_loaded_out_of_the_collectors_sight(
    template: Template, tmp_path: Path, served: dict[str, Any]
) -> None:
    """The libraries, the app and ONE stay for the server's life: its collections should
    not walk them (a full one took 0.1 to 0.3 s, every request waiting)."""
    made = _serve_a_copy(template, tmp_path)
    assert served["frozen"] > 50_000
    assert (served["host"], served["port"]) == ("127.0.0.1", 8123)
    assert served["app"] is not None
    assert len(made) == 1  # one process, one ONE


def test_serve_builds_every_creators_search_index_before_it_serves(
    template: Template,
    tmp_path: Path,
    served: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first fan's turn does not wait for the lexical index (seconds at 100k chunks)."""
    built = count_lexical_indexes(monkeypatch)
    import uvicorn

    run = uvicorn.run  # the fixture's

    def counting_run(app: Any, **options: Any) -> None:
        served["indexes"] = sorted(built)
        run(app, **options)

    monkeypatch.setattr(uvicorn, "run", counting_run)
    _serve_a_copy(template, tmp_path)
    with copy_of(template, tmp_path / "again") as one:
        chunks = sorted(one.knowledge.count(c) for c in (template.maya, template.ben))
    assert served["indexes"] == chunks  # built before uvicorn ran
    assert chunks[-1] > 0


def test_serve_recovers_the_runs_a_crash_left_before_it_serves(
    template: Template, tmp_path: Path, served: dict[str, Any]
) -> None:
    with copy_of(template, tmp_path) as one:
        # Accepted and never driven: what a crash before its first step leaves.
        input = {"creator_id": template.maya, "agent": "strategy_agent", "task": "plan"}
        run_id, _ = one.runs.submit(agent_graph.NAME, input)
        assert one.runs.get(run_id).status == "accepted"
    data = tmp_path / "data"
    made: list[One] = []

    def make() -> One:
        made.append(make_one(data, model=brain_model(**AGENT_OUTPUTS)))
        return made[-1]

    try:
        serve(make, host="127.0.0.1", port=8123)
    finally:
        gc.unfreeze()
    with make_one(data) as after:
        assert after.runs.get(run_id).status == "completed"


def test_more_than_one_worker_needs_a_chroma_server(
    template: Template, tmp_path: Path, served: dict[str, Any]
) -> None:
    """Embedded Chroma is not safe across processes: refused, with what to do, before
    anything listens."""
    with pytest.raises(KnowledgeError, match="ONE_CHROMA_URL") as refused:
        serve(lambda: copy_of(template, tmp_path), host="127.0.0.1", port=8123, workers=2)
    assert "chroma run" in str(refused.value)
    assert served == {}


def test_workers_need_a_make_they_can_import(
    template: Template, tmp_path: Path, served: dict[str, Any]
) -> None:
    def make() -> One:  # a Chroma server is named (and never reached: nothing searches)
        return copy_of(template, tmp_path, chroma_url="http://127.0.0.1:9")

    with pytest.raises(ValueError, match="module-level function"):
        serve(make, host="127.0.0.1", port=8123, workers=2)
    assert served == {}


def test_workers_each_build_their_one_from_make(
    template: Template,
    tmp_path: Path,
    served: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With workers, uvicorn gets the worker's app factory by name, and each worker builds
    its ONE with `make`, named in the environment the worker processes inherit."""
    data = shutil.copytree(template.data, tmp_path / "data")
    monkeypatch.setenv("ONE_DATA_DIR", str(data))
    monkeypatch.setenv("ONE_CHROMA_URL", "http://127.0.0.1:9")  # checked, not used here
    monkeypatch.setenv("ONE_SERVE_WORKER", "")  # set by `serve`; gone after the test
    warmed: list[str] = []
    knowledge = SimpleNamespace(retriever=lambda c: SimpleNamespace(warm=lambda: warmed.append(c)))
    monkeypatch.setattr(One, "knowledge", property(lambda one: knowledge))  # no server at :9
    serve(serve_child.make, host="127.0.0.1", port=8123, scheduler=True, workers=2)
    assert served["app"] == "one._server:worker_app"
    assert (served["factory"], served["workers"]) == (True, 2)
    assert json.loads(os.environ["ONE_SERVE_WORKER"]) == {
        "make": "tests.one.serve_child:make",
        "scheduler": True,
    }
    # What uvicorn does in each worker process: the factory, then the app's lifespan.
    try:
        app = worker_app()
    finally:
        gc.unfreeze()
    assert sorted(warmed) == sorted([template.maya, template.ben])  # the worker's indexes
    admin = {"Authorization": f"Bearer {template.keys[0]}"}
    with TestClient(app) as client:
        listed = client.get("/creators", headers=admin).json()
    assert {c["id"] for c in listed} == {template.maya, template.ben}
