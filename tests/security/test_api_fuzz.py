"""The HTTP API under malformed calls: every method of wire.METHODS, a real `workbench serve`.

The server (`workbench serve --max-body-mb 4`) serves a small catalog holding a project, a
batch, inputs and two annotation runs. For every method:

- every argument gets values its type hint does not take: each JSON type it does not accept
  (int/float/bool/string/list/object/null swapped), strings over their length limit or with
  a NUL, lists of the wrong items or of a million and one items, dicts with keys their
  dataclass lacks or without the keys it needs, choices outside a Literal;
- the body itself is malformed: NaN / Infinity / -Infinity literals, 100,000 levels of
  nesting, invalid UTF-8, not JSON, JSON that is not an object, the wrong content type, no
  content type, unknown and missing arguments, a 5 MB id (over the limit);
- seeded random bodies mix several of those values at once.

Every answer must be 400, 413 or 415 with a JSON body naming the error class (and, for an
argument, the argument), quoting neither SQL nor a traceback; and nothing may be written:
the audit log (every action writes a row, refusals included) is compared after each method,
and every table's row count once the server has stopped.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import json
import random
import re
import socket
import types
import typing
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
import pytest

import workbench
from workbench.services import Workbench, wire
from workbench.services.wire import METHODS, Method

from .api_catalog import Work, prepare_work, table_counts

MAX_BODY_MB = 4
MAX_NAME = 1024
MAX_TEXT = 65_536
TEXT_ARGUMENTS = ("title", "description")
JSON = {"Content-Type": "application/json"}
# What no answer may contain: SQL, the engine's messages, a Python traceback.
LEAKS = re.compile(
    r"\b(SELECT|INSERT|UPDATE|DELETE|CREATE|FROM|WHERE|JOIN)\b|LINE \d|Binder Error|"
    r"Catalog Error|Conversion Error|Parser Error|Invalid Input Error|duckdb|_duckdb|"
    r"Traceback|File \"|\.py\b"
)
SAMPLES: dict[str, Any] = {
    "null": None,
    "bool": True,
    "int": 12345,
    "float": 1.5,
    "string": "fuzz",
    "list": ["fuzz", 1],
    "object": {"fuzz": 1},
}
KINDS = tuple(SAMPLES)

# -- the served catalog --------------------------------------------------------------------


@dataclasses.dataclass
class Api:
    """The served catalog and a raw httpx client on its API."""

    url: str
    http: httpx.Client
    path: Path
    counts: dict[str, int]
    work: Work
    served: Any

    def post(self, method: str, body: bytes, headers: dict[str, str] | None = None):
        return self.http.post(
            f"/{method}", content=body, headers=JSON if headers is None else headers
        )

    def call(self, method: str, **arguments: Any) -> httpx.Response:
        return self.post(method, json.dumps(arguments).encode())

    def newest_audit_id(self) -> int:
        answer = self.call("audit_log", limit=1)
        assert answer.status_code == 200, answer.text
        entries = answer.json()["result"]
        return entries[0]["id"] if entries else 0


@pytest.fixture(scope="module")
def api(
    tmp_path_factory: pytest.TempPathFactory, catalog_templates: Any, serve_catalog: Any
) -> Iterator[Api]:
    path = catalog_templates.copy("api", tmp_path_factory.mktemp("api-fuzz"))
    with workbench.open(path) as catalog:
        work = prepare_work(catalog)
    counts = table_counts(path)
    served = serve_catalog(path, "--max-body-mb", str(MAX_BODY_MB))
    with httpx.Client(base_url=served.url.rstrip("/") + "/api/v1", timeout=60) as http:
        yield Api(served.url, http, path, counts, work, served)
    served.stop()


# -- what each hint takes ------------------------------------------------------------------


def json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    return "list" if isinstance(value, list) else "object"


def is_union(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType)


def accepted(hint: Any) -> set[str]:
    """The JSON kinds a parameter hint takes (null for a flag: its default)."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return set(KINDS)
    if is_union(hint):
        return set().union(*(accepted(a) for a in typing.get_args(hint)))
    if hint is type(None):
        return {"null"}
    if origin is Literal:
        return {json_kind(a) for a in typing.get_args(hint)}
    if hint is bool:
        return {"bool", "null"}
    if hint is int:
        return {"int"}
    if hint is float:
        return {"int", "float"}
    if hint in (str, datetime):
        return {"string"}
    if origin in (list, tuple, collections.abc.Sequence):
        return {"list"}
    if origin in (dict, collections.abc.Mapping) or dataclasses.is_dataclass(hint):
        return {"object"}
    return set()  # callables and protocols: JSON cannot carry them


def core(hint: Any) -> Any:
    """The one hint a parameter takes besides null, or None when it takes several."""
    if not is_union(hint):
        return hint
    rest = [a for a in typing.get_args(hint) if a is not type(None)]
    return rest[0] if len(rest) == 1 else None


def valid(hint: Any) -> Any:
    """A value of the right type (the call never runs: another argument is wrong)."""
    origin = typing.get_origin(hint)
    if is_union(hint):
        options = typing.get_args(hint)
        if type(None) in options:
            return None
        return valid(next(o for o in options if accepted(o) - {"null"}))
    if origin is Literal:
        return typing.get_args(hint)[0]
    simple = {bool: False, int: 1, float: 1.0, str: "x", datetime: "2024-01-01T00:00:00"}
    if hint in simple:
        return simple[hint]
    if origin in (list, tuple, collections.abc.Sequence):
        return []
    if dataclasses.is_dataclass(hint):
        hints = typing.get_type_hints(hint)
        return {f.name: valid(hints[f.name]) for f in dataclasses.fields(hint) if required(f)}
    return {}


def required(field: dataclasses.Field[Any]) -> bool:
    return field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING


def wrong_values(name: str, hint: Any) -> list[tuple[str, Any]]:
    """Values `hint` does not take, each with what it is."""
    takes = accepted(hint)
    out = [(f"{kind} for {name}", SAMPLES[kind]) for kind in KINDS if kind not in takes]
    inner = core(hint)
    origin = typing.get_origin(inner)
    if inner is str:
        limit = MAX_TEXT if name in TEXT_ARGUMENTS else MAX_NAME
        out += [("a string over its limit", "x" * (limit + 1)), ("a NUL", "a\x00b")]
    elif origin is Literal:
        out.append(("no choice of the Literal", "zz-no-such-choice"))
    elif inner is int:
        out.append(("an integer beyond 64 bits", 2**64 + 1))
    elif origin in (list, tuple, collections.abc.Sequence):
        item = typing.get_args(inner)[0]
        out += [
            (f"a list with a wrong {kind}", [valid(item), SAMPLES[kind]])
            for kind in ("int", "object", "null")
            if kind not in accepted(item)
        ]
        if dataclasses.is_dataclass(item):
            out.append(("an item with an unknown key", [{"zz_unknown": 1}]))
        out.append(("a million and one items", [0] * 1_000_001))
    elif dataclasses.is_dataclass(inner):
        out.append(("an unknown key", {**valid(inner), "zz_unknown": 1}))
        if any(required(f) for f in dataclasses.fields(inner)):
            out.append(("no required keys", {}))
    elif origin in (dict, collections.abc.Mapping) and typing.get_args(inner)[0] is int:
        out.append(("a key that is not a number", {"abc": "x"}))
    return out


def parameters(method: Method) -> dict[str, tuple[Any, bool]]:
    """Each parameter's hint and whether it is required (`self` left out)."""
    hints = typing.get_type_hints(method.call)
    params = list(method.signature.parameters.values())[1:]
    return {p.name: (hints[p.name], p.default is p.empty) for p in params}


def base(method: Method) -> dict[str, Any]:
    """The required arguments, each of the right type."""
    return {n: valid(h) for n, (h, needed) in parameters(method).items() if needed}


# -- the checks ----------------------------------------------------------------------------


def check_refused(answer: httpx.Response, what: str, *, argument: str | None = None) -> dict:
    assert answer.status_code in (400, 413, 415), (what, answer.status_code, answer.text[:300])
    assert answer.headers["content-type"].startswith("application/json"), what
    body = answer.json()
    assert set(body) == {"error", "message", "details"}, (what, body)
    assert isinstance(body["error"], str) and body["error"], what
    assert isinstance(body["message"], str) and body["message"], what
    assert not LEAKS.search(body["message"]), (what, body["message"])
    assert len(answer.content) < 20_000, what  # a huge value is never echoed back
    if argument is not None:
        assert body["error"] == "InvalidArgument", (what, body)
        assert body["details"].get("argument") == argument, (what, body)
        assert argument in body["message"], (what, body["message"])
    return body


def raw_bodies(method: Method) -> list[tuple[str, bytes, dict[str, str], int]]:
    """Bodies that are not a call at all: (what, body, headers, status)."""
    first = next(iter(parameters(method)), "x")
    deep = b"[" * 100_000 + b"]" * 100_000
    return [
        ("NaN", b'{"%s": NaN}' % first.encode(), JSON, 400),
        ("Infinity", b'{"%s": Infinity}' % first.encode(), JSON, 400),
        ("-Infinity", b'{"%s": -Infinity}' % first.encode(), JSON, 400),
        ("1e400", b'{"%s": 1e400}' % first.encode(), JSON, 400),
        ("100,000 levels", b'{"%s": %s}' % (first.encode(), deep), JSON, 400),
        ("100,000 levels of objects", b'{"a":' * 100_000 + b"1" + b"}" * 100_000, JSON, 400),
        ("invalid UTF-8", b'{"%s": "\xff\xfe"}' % first.encode(), JSON, 400),
        ("a lone surrogate", b'{"%s": "\\ud800"}' % first.encode(), JSON, 400),
        ("not JSON", b"{", JSON, 400),
        ("trailing garbage", b"{} {}", JSON, 400),
        ("a JSON array", b"[]", JSON, 400),
        ("a JSON string", b'"x"', JSON, 400),
        ("a byte-order mark", b"\xef\xbb\xbf{}", JSON, 400),
        ("text/plain", b"{}", {"Content-Type": "text/plain"}, 415),
        ("a form", b"a=1", {"Content-Type": "application/x-www-form-urlencoded"}, 415),
        ("no content type", b"{}", {}, 415),
        ("a 5 MB id", json.dumps({first: "x" * 5_000_000}).encode(), JSON, 413),
    ]


@pytest.mark.parametrize("name", sorted(METHODS))
def test_malformed_calls_are_400s_and_write_nothing(api: Api, name: str) -> None:
    method = METHODS[name]
    before = api.newest_audit_id()
    params = parameters(method)
    for argument, (hint, _needed) in params.items():
        for what, value in wrong_values(argument, hint):
            answer = api.call(name, **{**base(method), argument: value})
            check_refused(answer, f"{name}({argument}): {what}", argument=argument)
    for what, body, headers, status in raw_bodies(method):
        answer = api.post(name, body, headers)
        refused = check_refused(answer, f"{name}: {what}")
        assert answer.status_code == status, (name, what, answer.text[:300])
        assert refused["error"] in ("BadRequest", "UnsupportedMediaType", "RequestTooLarge")
    unknown = check_refused(api.call(name, **base(method), zz_unknown=1), f"{name}: unknown")
    assert "zz_unknown" in unknown["message"]
    if any(needed for _hint, needed in params.values()):
        missing = check_refused(api.post(name, b""), f"{name}: empty body")
        assert "missing a required argument" in missing["message"]
        check_refused(api.call(name), f"{name}: missing arguments")
    assert api.newest_audit_id() == before, f"{name}: a malformed call was carried out"


def generated_body(method: Method, rng: random.Random) -> tuple[dict[str, Any], set[str]]:
    """A few arguments of the method, each given a value it does not take."""
    params = parameters(method)
    chosen = rng.sample(sorted(params), k=rng.randint(1, min(4, len(params))))
    body = base(method)
    for argument in chosen:
        choices = [v for _what, v in wrong_values(argument, params[argument][0])]
        value = rng.choice(choices)
        if isinstance(value, dict) and rng.random() < 0.5:
            value = {"zz": garbage(rng, 6), **value}
        body[argument] = value
    return body, set(chosen)


def garbage(rng: random.Random, depth: int) -> Any:
    """A random JSON value up to `depth` levels deep."""
    kind = rng.choice(KINDS if depth else KINDS[:5])
    if kind == "list":
        return [garbage(rng, depth - 1) for _ in range(rng.randint(0, 3))]
    if kind == "object":
        return {f"k{i}": garbage(rng, depth - 1) for i in range(rng.randint(0, 3))}
    if kind == "string":
        return "".join(rng.choice("aé\u2603\\\"'<>{}%") for _ in range(rng.randint(0, 12)))
    if kind == "int":
        return rng.choice([0, -1, 2**31, 2**63 - 1, -(2**63)])
    return SAMPLES[kind] if kind != "float" else rng.choice([0.0, -1e308, 1e-308, 3.5])


def test_generated_bodies_are_400s_and_write_nothing(api: Api) -> None:
    rng = random.Random(20240607)
    before = api.newest_audit_id()
    methods = [m for m in METHODS.values() if parameters(m)]
    for _ in range(300):
        method = rng.choice(methods)
        body, wrong = generated_body(method, rng)
        answer = api.call(method.name, **body)
        refused = check_refused(answer, f"{method.name}: generated {body!r:.300}")
        assert refused["details"].get("argument") in wrong, (method.name, refused)
    assert api.newest_audit_id() == before


def test_a_body_declared_far_over_the_limit_is_refused_before_it_is_sent(api: Api) -> None:
    """100 MB announced: the 413 comes back at once, with no byte of the body sent."""
    parts = urlsplit(api.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(
            b"POST /api/v1/create_project HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 104857600\r\n\r\n"
        )
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), head
    assert json.loads(body)["error"] == "RequestTooLarge"


def test_a_chunked_body_over_the_limit_is_cut_off_with_413(api: Api) -> None:
    limit = MAX_BODY_MB * 1024 * 1024

    def chunks() -> Iterator[bytes]:
        yield b'{"external_id": "'
        for _ in range(limit // 65536 + 2):
            yield b"x" * 65536
        yield b'"}'

    answer = api.http.post("/create_project", content=chunks(), headers=JSON)
    assert answer.status_code == 413
    assert answer.json()["error"] == "RequestTooLarge"


def test_the_first_unforeseen_value_never_creates_a_project(api: Api) -> None:
    """An integer for a project's name once created project "12345" quietly."""
    answer = api.call("create_project", external_id=12345)
    body = check_refused(answer, "external_id=12345", argument="external_id")
    assert "must be a string, got an integer 12345" in body["message"]
    names = [p["external_id"] for p in api.call("get_projects").json()["result"]]
    assert "12345" not in names


def test_the_server_logged_no_failure(api: Api) -> None:
    log = api.served.log()
    assert "Traceback" not in log
    assert "failed on the server" not in log


def test_zz_nothing_was_written(api: Api) -> None:
    """Last in this module: every table as it was before the server started."""
    api.served.stop()
    assert table_counts(api.path) == api.counts


def test_the_wire_table_is_what_was_fuzzed() -> None:
    assert set(METHODS) == {
        n for n in dir(Workbench) if not n.startswith("_") and callable(getattr(Workbench, n))
    } - {"as_actor"}
    assert wire.API_PREFIX == "/api/v1"
