"""The wire format, unit by unit: what we send, and how answers of every shape are read."""

from __future__ import annotations

import json

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aicore_bulk import MockTransport, Response, RetryPolicy, StaticToken, Target
from aicore_bulk._api import Api, bulk_body, parse_bulk_answer
from aicore_bulk._caller import Caller
from aicore_bulk._models import Deleting, Op, Status
from aicore_bulk._rate import Pacer
from aicore_bulk._retry import RetryBudget
from aicore_bulk._window import Window
from aicore_bulk.testing import VirtualClock

BASE = "https://api.ai.example.com/v2"


class Recorder:
    """Answers requests from a script and remembers what was sent."""

    def __init__(self):
        self.sent = []
        self.answers = {}

    def answer(self, method, url, status, body):
        """Script the answer to one request."""
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        path, _, query = url.partition("?")
        key = (method, path, tuple(sorted(query.split("&"))) if query else ())
        self.answers[key] = Response(status, {"Content-Type": "application/json"}, payload)

    async def __call__(self, request):
        """Remember the request and give its scripted answer."""
        self.sent.append(request)
        query = tuple(sorted(f"{k}={v}" for k, v in request.params.items()))
        return self.answers[(request.method, request.url, query)]


def make_api(transport):
    clock = VirtualClock()
    caller = Caller(
        transport=transport,
        auth=StaticToken("tok-123"),
        pacer=Pacer(clock),
        limiter=anyio.CapacityLimiter(4),
        retry=RetryPolicy(attempts=2, wait_initial=0),
        budget=RetryBudget(10),
        clock=clock,
        window=Window(clock, 4),
    )
    return Api(caller, BASE, "team-a")


@pytest.fixture
def wire():
    recorder = Recorder()
    return make_api(MockTransport(recorder)), recorder


async def test_bulk_patch_request_shape(wire):
    """A bulk change is a merge-patch PATCH of the collection, with group and bearer headers."""
    api, server = wire
    server.answer(
        "PATCH",
        f"{BASE}/lm/executions",
        202,
        {
            "executions": [
                {"id": "e-0001", "message": "Execution modification scheduled"},
                {
                    "id": "e-0002",
                    "error": {"code": "01010076", "message": "Current status RUNNING"},
                },
            ]
        },
    )

    result = await api.change_in_bulk(
        "executions", [Op("e-0001", Target.DELETED), Op("e-0002", Target.STOPPED)]
    )

    (sent,) = server.sent
    assert sent.headers["Content-Type"] == "application/merge-patch+json"
    assert sent.headers["AI-Resource-Group"] == "team-a"
    assert sent.headers["Authorization"] == "Bearer tok-123"
    assert json.loads(sent.body) == {
        "executions": [
            {"id": "e-0001", "targetStatus": "DELETED"},
            {"id": "e-0002", "targetStatus": "STOPPED"},
        ]
    }
    assert result.answers["e-0001"].kind == "accepted"
    assert result.answers["e-0002"].kind == "conflict"


async def test_deployments_use_their_own_body_key(wire):
    """The body key is "deployments" for deployments (SAP's doc page shows a wrong one)."""
    api, server = wire
    server.answer(
        "PATCH",
        f"{BASE}/lm/deployments",
        202,
        {"deployments": [{"id": "d-0001", "message": "Deployment modification scheduled"}]},
    )

    result = await api.change_in_bulk("deployments", [Op("d-0001", Target.DELETED)])

    assert list(json.loads(server.sent[0].body)) == ["deployments"]
    assert result.answers["d-0001"].kind == "accepted"


async def test_list_asks_for_status_only_and_pages(wire):
    """Listing sends $select=status, $top and $skip, and pages until a short page."""
    api, server = wire
    server.answer(
        "GET",
        f"{BASE}/lm/executions?$select=status&$top=2&$skip=0",
        200,
        {
            "count": 3,
            "resources": [
                {"id": "e-0001", "status": "RUNNING"},
                {"id": "e-0002", "status": "DEAD"},
            ],
        },
    )
    server.answer(
        "GET",
        f"{BASE}/lm/executions?$select=status&$top=2&$skip=2",
        200,
        {
            "count": 3,
            "resources": [
                {"id": "e-0003", "status": "STOPPING"},
                {"id": 7, "status": "RUNNING"},
                {"id": "e-0009"},
            ],
        },
    )
    server.answer(
        "GET",
        f"{BASE}/lm/executions?$select=status&$top=2&$skip=5",
        200,
        {"count": 3, "resources": []},
    )

    pages = [page async for page in api.list_statuses("executions", page_size=2)]

    assert [[i for i, _ in page] for page in pages] == [["e-0001", "e-0002"], ["e-0003"], []]


async def test_full_list_drops_select_pages_smaller_and_reads_target_status(wire):
    """A full listing asks whole resources in pages of 25,000 and tells a scheduled deletion."""
    api, server = wire
    server.answer(
        "GET",
        f"{BASE}/lm/executions?$top=25000&$skip=0",
        200,
        {
            "count": 3,
            "resources": [
                {"id": "e-0001", "status": "STOPPED", "targetStatus": "DELETED"},
                {"id": "e-0002", "status": "DEAD", "targetStatus": "COMPLETED"},
                {"id": "e-0003", "status": "RUNNING"},
            ],
        },
    )

    pages = [p async for p in api.list_statuses("executions", page_size=100_000, full=True)]

    assert pages == [
        [
            ("e-0001", Deleting(Status.STOPPED)),
            ("e-0002", Status.DEAD),
            ("e-0003", Status.RUNNING),
        ]
    ]


async def test_a_status_only_answer_that_carries_target_status_is_used(wire):
    """An answer's targetStatus is used whenever it carries one, $select=status or not."""
    api, server = wire
    server.answer(
        "GET",
        f"{BASE}/lm/executions?$select=status&$top=10&$skip=0",
        200,
        {"count": 1, "resources": [{"id": "e-0001", "status": "DEAD", "targetStatus": "DELETED"}]},
    )

    pages = [page async for page in api.list_statuses("executions", page_size=10)]

    assert pages == [[("e-0001", Deleting(Status.DEAD))]]


async def test_a_single_read_asks_the_whole_resource(wire):
    """One item is read whole (it tells a scheduled deletion); $select=status only on request."""
    api, server = wire
    server.answer(
        "GET",
        f"{BASE}/lm/executions/e-0001",
        200,
        {"id": "e-0001", "status": "COMPLETED", "targetStatus": "DELETED"},
    )
    server.answer(
        "GET", f"{BASE}/lm/executions/e-0001?$select=status", 200, {"status": "COMPLETED"}
    )

    whole = await api.get_status("executions", "e-0001")
    trimmed = await api.get_status("executions", "e-0001", full=False)

    assert whole == Deleting(Status.COMPLETED)
    assert trimmed is Status.COMPLETED


async def test_single_calls_when_bulk_is_off(wire):
    """Without bulk: PATCH /{id} with targetStatus STOPPED, DELETE /{id}, codes mapped."""
    api, server = wire
    server.answer(
        "PATCH",
        f"{BASE}/lm/executions/e-0001",
        202,
        {"id": "e-0001", "message": "Execution modification scheduled"},
    )
    server.answer(
        "DELETE",
        f"{BASE}/lm/executions/e-0002",
        412,
        {"error": {"code": "01010076", "message": "Current status RUNNING"}},
    )
    server.answer(
        "DELETE",
        f"{BASE}/lm/executions/e-0003",
        404,
        {"error": {"code": "01010020", "message": "not found"}},
    )

    stop = await api.change_one("executions", Op("e-0001", Target.STOPPED))
    conflict = await api.change_one("executions", Op("e-0002", Target.DELETED))
    missing = await api.change_one("executions", Op("e-0003", Target.DELETED))

    assert json.loads(server.sent[0].body) == {"targetStatus": "STOPPED"}
    assert server.sent[0].headers["Content-Type"] == "application/json"
    assert stop.answers["e-0001"].kind == "accepted"
    assert conflict.answers["e-0002"].kind == "conflict"
    assert missing.answers["e-0003"].kind == "not_found"


async def test_a_proxy_html_page_on_a_bulk_answer_leaves_items_unanswered(wire):
    """A 202 whose body is a proxy's HTML page answers no item: each may have changed."""
    api, server = wire
    server.answer("PATCH", f"{BASE}/lm/executions", 202, b"<html>502 Bad Gateway</html>")

    result = await api.change_in_bulk("executions", [Op("e-0001", Target.DELETED)])

    assert result.unanswered == {"e-0001"}


IDS = ["e-0001", "e-0002", "e-0003"]


@pytest.mark.parametrize(
    ("body", "answered"),
    [
        (b"", set()),
        (b"{}", set()),
        (b"null", set()),
        (b'{"executions": {"id": "e-0001"}}', set()),
        (b'{"deployments": [{"id": "e-0001", "message": "ok"}]}', set()),
        (
            (
                b'{"executions": [{"id": "e-0001", "message": "ok"}, '
                b'{"id": "zz-999", "message": "ok"}]}'
            ),
            {"e-0001"},
        ),
        (
            b'{"executions": [{"id": "e-0001", "message": "ok"}, {"id": "e-0001", "error": {}}]}',
            {"e-0001"},
        ),
        (b'{"executions": [{"id": "e-0002", "message": 5}, {"message": "ok"}, 17]}', set()),
        (
            b'{"executions": [{"id": "e-0003", "error": {"code": 1010076, "message": "x"}}]}',
            {"e-0003"},
        ),
        (b'{"executions": [{"id": "e-0001", "mess', set()),
    ],
    ids=[
        "empty",
        "empty-object",
        "null",
        "not-a-list",
        "wrong-kind",
        "extra-id",
        "twice",
        "wrong-types",
        "numeric-code",
        "truncated",
    ],
)
def test_bulk_answers_of_every_shape(body, answered):
    """Whatever the body, each requested ID is answered or unanswered, never both, never lost."""
    result = parse_bulk_answer("executions", IDS, body, status=202)

    assert set(result.answers) == answered
    assert result.unanswered == set(IDS) - answered


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8) | st.sampled_from(IDS),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["id", "message", "error", "code", "executions"]), inner, max_size=4
        )
    ),
    max_leaves=20,
)


@given(json_values)
def test_random_json_never_crashes_the_parser(value):
    """Random JSON shapes become answers or unanswered items, never an exception."""
    for body in ({"executions": value}, value):
        result = parse_bulk_answer("executions", IDS, json.dumps(body).encode(), status=202)
        assert set(result.answers) | result.unanswered == set(IDS)
        assert not set(result.answers) & result.unanswered


@given(
    st.lists(st.tuples(st.text(min_size=1, max_size=12), st.sampled_from(list(Target))), max_size=5)
)
def test_a_bulk_body_is_the_json_of_its_changes_whatever_the_ids(changes):
    """The bulk body reads back as its changes, quotes and escapes in IDs included."""
    ops = [Op(item_id, target) for item_id, target in changes]
    expected = {"executions": [{"id": op.id, "targetStatus": op.target.value} for op in ops]}

    assert json.loads(bulk_body("executions", ops)) == expected


def test_a_bulk_body_of_plain_ids_is_written_as_json_dumps_writes_it():
    """IDs of the spec's characters give the very bytes json.dumps gives."""
    ops = [Op("e-1.2_3", Target.DELETED), Op("abcdEF09", Target.STOPPED)]
    payload = {"deployments": [{"id": op.id, "targetStatus": op.target.value} for op in ops]}

    assert bulk_body("deployments", ops) == json.dumps(payload).encode()
