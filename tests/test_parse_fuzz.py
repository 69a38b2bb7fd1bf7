"""Answers of any shape, fed to every parser of the service's answers.

Whatever a server, a gateway or a proxy sends back, the result is one of the documented
outcomes (docs/bad-input.md): per-item answers, "unanswered" items, a ``Failure``, or a typed
``BulkError``. Never a ``KeyError``, ``TypeError`` or ``AttributeError`` from deep inside,
and never an ID lost: each one sent is answered or unanswered, not both.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aicore_bulk import (
    AuthenticationError,
    BulkError,
    ConfigurationError,
    MockTransport,
    Request,
    Response,
    RetryPolicy,
    ServiceError,
    Status,
    Target,
)
from aicore_bulk._api import Api, ChangeAnswer, parse_bulk_answer
from aicore_bulk._auth import fetch_token
from aicore_bulk._caller import Failure
from aicore_bulk._models import CODE_NOT_FOUND, CODE_STATUS_CONFLICT, KINDS, ItemAnswer, Op
from aicore_bulk.testing import VirtualClock
from tests.test_wire import make_api

IDS = ["e-0001", "e-0002", "e-0003"]
CODES = [CODE_STATUS_CONFLICT, *sorted(CODE_NOT_FOUND), "01000001"]
KEYS = ["id", "message", "error", "code", "status", "resources", "executions", "deployments"]
FUZZ = settings(max_examples=250, deadline=None)

json_leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()  # NaN and Infinity too: Python's json writes and reads them
    | st.text(max_size=10)
    | st.sampled_from(IDS + CODES + [status.value for status in Status])
)
json_values = st.recursive(
    json_leaves,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)

#: Per-item errors shaped almost like the contract's.
errors = st.fixed_dictionaries(
    {},
    optional={
        "code": st.sampled_from(CODES) | st.integers() | json_values,
        "message": st.text(max_size=20) | json_values,
        "requestId": st.text(max_size=8),
        "target": json_values,
        "details": json_values,
    },
)
#: Per-item entries shaped almost like the contract's.
entries = st.fixed_dictionaries(
    {},
    optional={
        "id": st.sampled_from([*IDS, "e-9999"]) | json_values,
        "message": st.text(max_size=20) | json_values,
        "error": errors | json_values,
    },
)
#: Bulk answers shaped almost like the contract's: the right key or a near miss.
bulk_answers = st.builds(
    lambda key, items: {key: items},
    st.sampled_from(["executions", "deployments", "Executions", "execution"]),
    st.lists(entries | json_values, max_size=6),
)

#: Resources (one read, or a list's entries) shaped almost like the contract's.
resources = st.fixed_dictionaries(
    {},
    optional={
        "id": st.sampled_from(IDS) | json_values,
        "status": st.sampled_from([status.value for status in Status]) | json_values,
    },
)
listings = st.fixed_dictionaries(
    {},
    optional={"count": json_values, "resources": st.lists(resources | json_values, max_size=4)},
)
metas = st.builds(
    lambda flags: {"aiApi": {"capabilities": {"bulkUpdates": flags}}},
    st.dictionaries(st.sampled_from(KINDS), json_values) | json_values,
)
#: Near-contract JSON of every answer the client reads.
near_contract = bulk_answers | resources | listings | metas | errors.map(lambda e: {"error": e})


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    """Bytes of any kind: JSON, near-contract JSON, cut-off JSON, numbers, or noise."""
    kind = draw(st.sampled_from(["json", "contract", "cut", "number", "bytes", "html"]))
    if kind == "bytes":
        return draw(st.binary(max_size=64))
    if kind == "html":
        return b"<html><body><h1>502 Bad Gateway</h1></body></html>"
    if kind == "number":  # what $count answers, and near misses
        return draw(st.sampled_from([b"12", b" 7\n", b"-3", b"1e3", b"1_000", b"\xff"]))
    value = draw(near_contract if kind in {"contract", "cut"} else json_values)
    text = json.dumps(value).encode()
    if kind == "cut":
        return text[: draw(st.integers(min_value=0, max_value=max(0, len(text) - 1)))]
    return text


statuses = st.sampled_from([200, 201, 202, 204, 400, 401, 403, 404, 409, 412, 429, 500, 502, 503])
content_types = st.sampled_from(["application/json", "text/html", "text/plain", ""])
sent_ids = st.lists(st.sampled_from(IDS), min_size=1, max_size=3, unique=True)


def check_item(answer: ItemAnswer) -> None:
    """An item answer is one of the four kinds, with text fields that are text."""
    assert answer.kind in {"accepted", "not_found", "conflict", "refused"}
    assert answer.code is None or isinstance(answer.code, str)
    assert answer.message is None or isinstance(answer.message, str)
    if answer.kind == "conflict":
        assert answer.code == CODE_STATUS_CONFLICT
    if answer.kind != "accepted":
        assert answer.message  # a refusal always says something


def check_accounted(result: ChangeAnswer, ids: list[str]) -> None:
    """Every ID sent is answered or unanswered, never both; nothing else is answered."""
    assert set(result.answers) | result.unanswered == set(ids)
    assert not set(result.answers) & result.unanswered
    for answer in result.answers.values():
        check_item(answer)


def outcome(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """The coroutine's value, or the ``BulkError`` it raised; anything else propagates."""
    try:
        return asyncio.run(coroutine)
    except BulkError as error:
        return error


def respond(status: int, body: bytes, content_type: str) -> MockTransport:
    """A service that gives this one answer to everything."""

    async def handler(request: Request) -> Response:
        return Response(status, {"Content-Type": content_type}, body)

    return MockTransport(handler)


@FUZZ
@given(value=json_values | bulk_answers, ids=sent_ids, kind=st.sampled_from(KINDS))
def test_any_json_becomes_answers_or_unanswered_ids(value, ids, kind):
    """Any JSON, bare or under the kind's key, accounts for every ID sent."""
    for body in (value, {kind: value}):
        check_accounted(parse_bulk_answer(kind, ids, json.dumps(body).encode(), status=202), ids)


@FUZZ
@given(body=bodies(), ids=sent_ids)
def test_any_bytes_become_answers_or_unanswered_ids(body, ids):
    """Cut-off JSON, HTML and noise account for every ID sent, too."""
    check_accounted(parse_bulk_answer("executions", ids, body, status=202), ids)


@FUZZ
@given(status=statuses, body=bodies(), content_type=content_types, ids=sent_ids)
def test_any_answer_to_a_bulk_change_is_an_outcome(status, body, content_type, ids):
    """A bulk change ends in per-item answers, a Failure, or a run-wide typed error."""
    ops = [Op(item_id, Target.DELETED) for item_id in ids]

    async def change() -> ChangeAnswer:
        api = make_api(respond(status, body, content_type))
        return await api.change_in_bulk("executions", ops)

    result = outcome(change())
    if isinstance(result, BulkError):
        assert_run_error(result, status, body)
    elif result.failure is not None:
        assert isinstance(result.failure, Failure)
        assert not result.answers
        assert not result.unanswered
        assert isinstance(result.failure.message, str)
    else:
        check_accounted(result, ids)


@FUZZ
@given(
    status=statuses,
    body=bodies(),
    content_type=content_types,
    target=st.sampled_from(list(Target)),
)
def test_any_answer_to_a_single_change_is_an_outcome(status, body, content_type, target):
    """A single stop or delete ends in an answer for its ID, a Failure, or a typed error."""

    async def change() -> ChangeAnswer:
        api = make_api(respond(status, body, content_type))
        return await api.change_one("executions", Op("e-0001", target))

    result = outcome(change())
    if isinstance(result, BulkError):
        assert_run_error(result, status, body)
    elif result.failure is None:
        check_accounted(result, ["e-0001"])
    else:
        assert not result.answers


def _meta(value: Any) -> bool:
    return set(value) == set(KINDS) and all(isinstance(flag, bool) for flag in value.values())


def _pages(value: Any) -> bool:
    return all(type(i) is str and isinstance(s, Status) for page in value for i, s in page)


#: Each read, and what its value must be.
READS: dict[str, tuple[Callable[[Api], Awaitable[Any]], Callable[[Any], bool]]] = {
    "meta": (lambda api: api.bulk_capabilities(), _meta),
    "count": (lambda api: api.count("executions"), lambda value: type(value) is int),
    "status": (
        lambda api: api.get_status("executions", "e-0001"),
        lambda value: value is None or isinstance(value, Status | Failure),
    ),
    "list": (
        lambda api: _collect(api.list_statuses("executions", page_size=2)),
        _pages,
    ),
}


async def _collect(pages: AsyncIterator[list[Any]]) -> list[list[Any]]:
    return [page async for page in pages]


@pytest.mark.parametrize("what", list(READS))
@settings(max_examples=150, deadline=None)
@given(status=statuses, body=bodies(), content_type=content_types)
def test_any_answer_to_a_read_is_a_value_or_a_typed_error(what, status, body, content_type):
    """Meta, $count, a status and a list read give values of their types, or a typed error."""
    read, valid = READS[what]

    async def run() -> Any:
        return await read(make_api(respond(status, body, content_type)))

    value = outcome(run())

    if isinstance(value, BulkError):
        assert_run_error(value, status, body)
    else:
        assert valid(value)


@FUZZ
@given(status=statuses, body=bodies(), content_type=content_types)
def test_any_answer_of_the_token_endpoint_is_a_token_or_a_typed_error(status, body, content_type):
    """The token endpoint's answer is a token and a lifetime, or a typed error naming it."""

    async def fetch() -> tuple[str, float]:
        return await fetch_token(
            respond(status, body, content_type),
            Request("POST", "https://auth.example.com/oauth/token", form={}),
            retry=RetryPolicy(wait_initial=0, wait_jitter=0),
            clock=VirtualClock(),
        )

    result = outcome(fetch())

    if isinstance(result, BulkError):
        assert isinstance(result, ServiceError)
        assert "https://auth.example.com/oauth/token" in str(result)
        assert isinstance(result, AuthenticationError) == (status in {400, 401, 403})
    else:
        token, lifetime = result
        assert status == 200
        assert isinstance(token, str)
        assert token
        assert isinstance(lifetime, float)
        assert 0 < lifetime < float("inf")  # NaN or 0 would mean a token fetch per request


@pytest.mark.parametrize("expires_in", ["NaN", "Infinity", "-5", "0"])
def test_a_nonsense_token_lifetime_counts_as_an_hour(expires_in):
    async def fetch() -> tuple[str, float]:
        return await fetch_token(
            respond(
                200,
                f'{{"access_token": "t-1", "expires_in": {expires_in}}}'.encode(),
                "application/json",
            ),
            Request("POST", "https://auth.example.com/oauth/token", form={}),
            retry=RetryPolicy(),
            clock=VirtualClock(),
        )

    assert asyncio.run(fetch()) == ("t-1", 3600.0)


def assert_run_error(error: Exception, status: int, body: bytes) -> None:
    """A run-wide error comes only from the statuses that mean one (see ``_api``)."""
    if isinstance(error, ConfigurationError):
        assert status == 400
        assert b"AI-Resource-Group" in body
    elif isinstance(error, AuthenticationError):
        assert status in {401, 403}
    else:
        assert isinstance(error, ServiceError)


@pytest.mark.parametrize(
    "status_value",
    [[], {}, ["RUNNING"], {"RUNNING": 1}],
    ids=["list", "object", "list-of-status", "object-of-status"],
)
def test_a_status_of_the_wrong_type_is_left_out_or_unreadable(status_value):
    """A status that is a list or an object (unhashable) is not a crash: it is no status."""
    entry = {"id": "e-0001", "status": status_value}
    listing = json.dumps({"count": 1, "resources": [entry]}).encode()

    async def read() -> tuple[Any, list[Any]]:
        single = make_api(respond(200, json.dumps(entry).encode(), "application/json"))
        many = make_api(respond(200, listing, "application/json"))
        pages = [page async for page in many.list_statuses("executions", page_size=10)]
        return await single.get_status("executions", "e-0001"), pages

    status, pages = asyncio.run(read())

    assert isinstance(status, Failure)
    assert status.message == "HTTP 200 without a valid status"
    assert pages == [[]]
