"""Every role against every route, and a property-based fuzz of the API from its own schema."""

from __future__ import annotations

import asyncio
import itertools
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chimera_engine.api.app import all_routes
from chimera_engine.api.routing import Route
from chimera_engine.config import load_settings
from chimera_engine.node import HeartNode
from chimera_engine.security.permissions import Role, has_permission
from tests.conftest import ADMIN_PASSWORD, GREETER_V1, write_module

_names = itertools.count()


def sample(schema: dict[str, Any], field: str = "") -> Any:
    """A small valid value for ``schema``."""
    if "enum" in schema:
        return schema["enum"][0] if field != "role" else "observer"
    kind = schema.get("type")
    if kind == "object":
        return {
            name: sample(schema["properties"][name], name) for name in schema.get("required", [])
        }
    if kind == "integer":
        return max(1, schema.get("minimum", 1))
    if kind == "number":
        return float(max(1, schema.get("minimum", 1)))
    if kind == "boolean":
        return False
    if kind == "array":
        return []
    if field in ("username", "name"):
        return f"user{next(_names)}"
    if field == "password":
        return ADMIN_PASSWORD
    if field == "module":
        return "greeter"
    return "x"


PATH_SAMPLES = {
    "module": "greeter",
    "key_id": "999",
    "jti": "none",
    "anomaly_id": "999",
    "patch_id": "999",
}


def concrete_path(route: Route) -> str:
    return re.sub(r"{(\w+)}", lambda m: PATH_SAMPLES.get(m.group(1), "x"), route.path)


class Server:
    """A real engine serving on loopback from its own thread (so sync clients can drive it)."""

    def __init__(self, root: Path) -> None:
        write_module(root / "ws", "greeter", GREETER_V1)
        self.settings = load_settings(
            data_dir=root / "data",
            workspace=root / "ws",
            use_default_file=False,
            env={
                "CHIMERA_API__PORT": "0",
                "CHIMERA_TOOLS__WATCH": "false",
                "CHIMERA_SWARM__HEARTBEAT_INTERVAL": "0.2",
                "CHIMERA_SWARM__MAX_AGENTS": "2",
                "CHIMERA_RATELIMIT__READ_PER_MINUTE": "100000",
                "CHIMERA_RATELIMIT__WRITE_PER_MINUTE": "100000",
                "CHIMERA_RATELIMIT__LOGIN_PER_MINUTE": "100000",
            },
        )
        self.ready = threading.Event()
        self.url = ""
        self.credentials: dict[Role, dict[str, str]] = {}
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with HeartNode(self.settings) as node:
            admin = await node.facade.sessions.create_first_admin("admin", ADMIN_PASSWORD)
            self.credentials[Role.ADMIN] = {"Authorization": f"Bearer {admin.tokens.access_token}"}
            for role in (Role.OPERATOR, Role.OBSERVER):
                await node.facade.admin.create_user(
                    admin.principal, role.value, ADMIN_PASSWORD, role
                )
                s = await node.facade.sessions.login(role.value, ADMIN_PASSWORD)
                self.credentials[role] = {"Authorization": f"Bearer {s.tokens.access_token}"}
            for role in (Role.NODE, Role.API_CLIENT):
                key, _ = await node.facade.admin.create_api_key(
                    admin.principal, name=role.value, role=role
                )
                self.credentials[role] = {"X-API-Key": key}
            assert node.api is not None
            self.url = node.api.url
            self.ready.set()
            await self._stop.wait()

    def __enter__(self) -> Server:
        self.thread.start()
        assert self.ready.wait(30), "engine did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(30)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with Server(tmp_path_factory.mktemp("api")) as srv:
        yield srv


PROTECTED = [r for r in all_routes() if r.permission is not None and r.path != "/api/auth/logout"]


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("route", PROTECTED, ids=lambda r: f"{r.method} {r.path}")
def test_role_endpoint_matrix(server: Server, route: Route, role: Role) -> None:
    body = sample(route.body) if route.body is not None else None
    with httpx.Client(base_url=server.url) as client:
        r = client.request(
            route.method, concrete_path(route), json=body, headers=server.credentials[role]
        )
    assert route.permission is not None
    if has_permission(role, route.permission):
        assert r.status_code not in (401, 403), r.text
    else:
        assert r.status_code == 403, r.text
        assert r.json()["error"]["code"] == "forbidden"
    assert r.status_code < 500, r.text


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


def body_strategy(route: Route) -> st.SearchStrategy[Any]:
    assert route.body is not None
    props = route.body["properties"]
    shaped = st.fixed_dictionaries(
        {
            name: JSON | st.just(sample(schema, name))
            for name, schema in props.items()
            if name in route.body["required"]
        },
        optional={name: JSON for name in props if name not in route.body["required"]},
    )
    return shaped | JSON


WITH_BODY = [r for r in all_routes() if r.body is not None and r.path != "/api/users"]


@pytest.mark.parametrize("route", WITH_BODY, ids=lambda r: f"{r.method} {r.path}")
def test_fuzz_bodies_never_5xx(server: Server, route: Route) -> None:
    client = httpx.Client(base_url=server.url, headers=server.credentials[Role.ADMIN])

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(body=body_strategy(route))
    def check(body: Any) -> None:
        r = client.request(route.method, concrete_path(route), json=body)
        assert r.status_code < 500, (body, r.text)
        if r.status_code >= 400:
            assert set(r.json()) == {"error"}

    try:
        check()
    finally:
        client.close()


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    path=st.sampled_from([concrete_path(r) for r in all_routes()])
    | st.text(max_size=40).map(lambda s: "/api/" + s.replace("?", "").replace("#", "")),
    method=st.sampled_from(["GET", "POST", "DELETE", "PUT"]),
    raw=st.binary(max_size=200),
)
def test_fuzz_raw_requests_never_5xx(server: Server, path: str, method: str, raw: bytes) -> None:
    with httpx.Client(base_url=server.url, headers=server.credentials[Role.OPERATOR]) as client:
        try:
            r = client.request(method, path, content=raw)
        except httpx.InvalidURL:
            return
    assert r.status_code < 500, r.text


NAMES = st.sampled_from(["step0", "step1", "a", "b"])
HINTS: dict[str, st.SearchStrategy[Any]] = {
    "tool": st.sampled_from(["greet", "nope"]),
    "form": st.fixed_dictionaries(
        {"tool": st.sampled_from(["greet", "nope"])},
        optional={
            "over": st.fixed_dictionaries(
                {},
                optional={"files": st.sampled_from([".", "tools", "../x", "/etc"]), "items": JSON},
            ),
            "inputs": JSON,
            "summary": JSON,
        },
    ),
    "text": st.sampled_from(["check http://127.0.0.1:9/", "clean every csv in tools/"]),
    "role": st.sampled_from(["executor", "x", "Bad Role"]),
    "id": NAMES,
    "depends_on": st.lists(NAMES, max_size=2),
    "inputs": st.fixed_dictionaries(
        {},
        optional={
            "name": st.text(max_size=5) | st.builds(lambda n: {"$ref": n}, NAMES),
            "punctuation": st.sampled_from(["!", "?"]) | JSON,
        },
    ),
}


def valid(schema: dict[str, Any], field: str = "") -> st.SearchStrategy[Any]:
    """Values that satisfy ``schema`` (the subset the routes use), to reach the handlers."""
    if (field in HINTS and schema.get("type") != "array") or field == "depends_on":
        return HINTS[field] | valid(schema)
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "object" and "properties" in schema:
        props = schema["properties"]
        required = set(schema.get("required", []))
        if "tool" in props and "prompt" in props:
            required.add("tool")  # a task: mostly well formed, to get past the first check
        return st.fixed_dictionaries(
            {n: valid(s, n) for n, s in props.items() if n in required},
            optional={n: valid(s, n) for n, s in props.items() if n not in required},
        )
    if kind == "object":
        return st.dictionaries(st.text(max_size=8), JSON, max_size=3)
    if kind == "string":
        low = schema.get("minLength", 0)
        return st.text(min_size=low, max_size=min(schema.get("maxLength", 40), 40))
    if kind == "integer":
        return st.integers(schema.get("minimum", -(2**40)), schema.get("maximum", 2**40))
    if kind == "number":
        return st.floats(schema.get("minimum", -1e12), schema.get("maximum", 1e12), allow_nan=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "array":
        return st.lists(valid(schema.get("items", {})), max_size=3)
    return JSON


EXCLUSIVE = ("tasks", "plan", "text", "form")


def valid_body(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Like :func:`valid`, but one request form at a time where a body offers several."""
    props = schema["properties"]
    forms = [name for name in EXCLUSIVE if name in props]
    if not forms:
        return valid(schema)
    common = {n: v for n, v in props.items() if n in ("wait", "digest")}
    single = {n: v for n, v in props.items() if n not in (*forms, *common)}
    variants = [{name: props[name], **common} for name in forms]
    if single:
        variants.append({**single, **common})
    return st.one_of(
        [
            valid({**schema, "properties": v, "required": [k for k in v if k in forms]})
            for v in variants
        ]
    )


SWARM_ROUTES = [
    r for r in WITH_BODY if r.path.startswith(("/api/swarm", "/api/tasks", "/api/intent"))
]


@pytest.mark.parametrize("route", SWARM_ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_fuzz_valid_swarm_bodies_never_5xx(server: Server, route: Route) -> None:
    """Bodies the schema accepts reach the handler; whatever they hold, no 5xx."""
    assert route.body is not None
    client = httpx.Client(base_url=server.url, headers=server.credentials[Role.OPERATOR])

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(body=valid_body(route.body))
    def check(body: Any) -> None:
        if "wait" in body:
            body["wait"] = min(body["wait"], 0.2)
        r = client.request(route.method, concrete_path(route), json=body, timeout=30)
        assert r.status_code < 500, (body, r.text)
        if r.status_code >= 400:
            assert set(r.json()) == {"error"}

    try:
        check()
    finally:
        client.close()
