"""The AI API over HTTP: an aiohttp.web application around a :class:`Simulator`."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import email.utils
import functools
import json
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any, Final, NoReturn, cast

import attrs
from aiohttp import web

from aicore_bulk._simulator import _rules
from aicore_bulk._simulator._core import ADMIN_SCOPE, Simulator
from aicore_bulk._simulator._faults import Refuse, retry_after_seconds
from aicore_bulk._simulator._groups import (
    Cursor,
    SelectorError,
    TokenError,
    parse_selector,
    selects,
)
from aicore_bulk._simulator._rules import Kind
from aicore_bulk._simulator._store import Item, Operation

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

SIMULATOR_KEY: Final = web.AppKey("simulator", Simulator)
_KIND_PATTERN: Final = "{kind:executions|deployments}"
_LIST_FILTERS: Final = ("scenarioId", "configurationId", "executionScheduleId")
_MAX_TOP: Final = 100_000
_DEFAULT_TOP: Final = 10_000
_MERGE_PATCH: Final = "application/merge-patch+json"
_DAY: Final = 86_400
_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_TWO_DIGITS: Final = [f"{n:02d}" for n in range(60)]
_BULK_ITEM_KEYS: Final = frozenset({"id", "targetStatus"})
_DELIVERED: Final = web.RequestKey("delivered", bool)
_TOO_MANY: Final = 429
_ACCEPTED: Final = 202
#: Statistics names by handler.
_OPERATIONS: Final = {
    "_token": "token",
    "_meta": "meta",
    "_list": "list",
    "_count": "count",
    "_get": "get",
    "_stop": "stop",
    "_delete": "delete",
    "_bulk": "bulk",
    "_resource_groups": "resource_groups",
}
_REASONS: Final = {
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    410: "Gone",
    412: "Precondition Failed",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class _ApiError(Exception):
    """Raised inside handlers; becomes an AI API error body."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def build_app(sim: Simulator) -> web.Application:
    """The aiohttp application that serves ``sim`` (token endpoint and ``/v2/lm``)."""
    app = web.Application(
        middlewares=[_bookkeeping, _api_errors, _auth_and_faults, _service_time],
        client_max_size=sim.config.max_body_bytes,
    )
    app[SIMULATOR_KEY] = sim
    app.router.add_post("/oauth/token", _token)
    app.router.add_get("/v2/lm/meta", _meta)
    app.router.add_get(f"/v2/lm/{_KIND_PATTERN}", _list)
    app.router.add_patch(f"/v2/lm/{_KIND_PATTERN}", _bulk)
    app.router.add_get(f"/v2/lm/{_KIND_PATTERN}/$count", _count)
    app.router.add_get(f"/v2/lm/{_KIND_PATTERN}/{{id}}", _get)
    app.router.add_patch(f"/v2/lm/{_KIND_PATTERN}/{{id}}", _stop)
    app.router.add_delete(f"/v2/lm/{_KIND_PATTERN}/{{id}}", _delete)
    app.router.add_get("/v2/admin/resourceGroups", _resource_groups)
    # Not the AI API: what benchmarks in another process read back (never faulted, no auth).
    app.router.add_get("/_simulator/statistics", _statistics)
    app.router.add_get(f"/_simulator/states/{_KIND_PATTERN}", _states)
    app.router.add_post("/_simulator/reset-statistics", _reset_statistics)
    return app


# Middlewares, outermost first.


def _operation(request: web.Request) -> str:
    """The operation's name in the statistics, from the handler the route picked."""
    name = getattr(request.match_info.handler, "__name__", "")
    return _OPERATIONS.get(name, "other")


@web.middleware
async def _bookkeeping(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith("/_simulator/"):
        return await handler(request)  # looking at the simulator is not traffic
    recorder = request.app[SIMULATOR_KEY].recorder
    operation = _operation(request)
    recorder.requests[operation] += 1
    group = request.headers.get("AI-Resource-Group", "").strip()
    if not request.path.startswith("/v2/lm/"):
        group = ""  # the token endpoint, meta and the admin listing belong to no group
    if group:
        recorder.group_request(group, operation)
    # In-flight counts the AI API only: the token endpoint is another service in real life.
    api = request.path.startswith("/v2/")
    if api:
        recorder.enter()
    try:
        response = await handler(request)
    finally:
        if api:
            recorder.leave()
    if response.status == _TOO_MANY:
        recorder.throttled += 1
        if group:
            recorder.group_throttled[group] += 1
    return response


@web.middleware
async def _api_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every refusal, including aiohttp's own, answers with the AI API's error body."""
    try:
        return await handler(request)
    except _ApiError as error:
        return _error(request, error.status, error.code, error.message)
    except web.HTTPRequestEntityTooLarge:
        sim = request.app[SIMULATOR_KEY]
        sim.recorder.violation("malformed-body", f"body over {sim.config.max_body_bytes} bytes")
        return _error(
            request,
            400,
            _rules.CODE_BAD_REQUEST,
            f"Request body is larger than {sim.config.max_body_bytes} bytes",
        )
    except web.HTTPException as exc:
        if exc.status < 400:  # noqa: PLR2004
            raise
        return _error(request, exc.status, _rules.CODE_BAD_REQUEST, exc.reason)


@web.middleware
async def _auth_and_faults(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith("/v2/"):
        return await handler(request)
    sim = request.app[SIMULATOR_KEY]
    if sim.config.auth and not _bearer_valid(request, sim):
        # Like the real gateway, a 401 here does not follow the AI API error shape.
        return web.json_response(
            {"error": "invalid_token", "error_description": "Missing, unknown or expired token"},
            status=401,
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    # A gateway throttles a request when it arrives, not after the service's latency: checked
    # after the sleep, the limit would see the simulator's own stalls (a wide list page being
    # rendered) as a clump of requests the client never sent together.
    refusal, name = sim.faults.refusal()
    delay = sim.faults.delay()
    if refusal is not None and name is not None:
        if delay > 0:
            await sim.clock.sleep(delay)
        sim.recorder.faults[name] += 1
        return _refuse(request, refusal)
    # Past the gateway: a worker serves it (after a wait in line, at capacity).
    async with sim.capacity.served(sim.recorder):
        if delay > 0:
            await sim.clock.sleep(delay)
        return await _served(request, handler, sim)


async def _served(request: web.Request, handler: Handler, sim: Simulator) -> web.StreamResponse:
    """Handle a request the gateway let through, with the connection and body faults."""
    verdict = sim.faults.connection()
    if verdict == "drop-before":
        sim.recorder.faults[verdict] += 1
        return _drop(request)
    spoil = sim.faults.body_fault() if verdict == "pass" else None
    # What a client is told by an answer counts only if the answer reaches it intact.
    request[_DELIVERED] = verdict == "pass" and spoil is None
    response = await handler(request)
    if verdict == "drop-after":
        sim.recorder.faults[verdict] += 1
        return _drop(request)
    if spoil is not None and response.status == _ACCEPTED and isinstance(response, web.Response):
        sim.recorder.faults[spoil] += 1
        text = response.text or ""
        body = text[: len(text) // 2] if spoil == "truncated" else "<html>Bad Gateway</html>"
        return web.Response(status=_ACCEPTED, text=body, content_type=response.content_type)
    return response


@web.middleware
async def _service_time(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Time the handler alone: innermost, so no latency, throttling or queueing is counted."""
    if request.path.startswith("/_simulator/"):
        return await handler(request)
    # Real time, not the simulator's clock: this is what serving costs on this machine (the
    # benchmarks' floor for a run at 0 ms), and a virtual clock would not move during it.
    started = time.perf_counter()
    try:
        return await handler(request)
    finally:
        request.app[SIMULATOR_KEY].recorder.service_seconds[_operation(request)] += (
            time.perf_counter() - started
        )


def _bearer_valid(request: web.Request, sim: Simulator) -> bool:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and sim.token_valid(token.strip())


def _refuse(request: web.Request, refusal: Refuse) -> web.Response:
    sim = request.app[SIMULATOR_KEY]
    response = _error(
        request,
        refusal.status,
        _rules.CODE_THROTTLED if refusal.status == _TOO_MANY else _rules.CODE_SERVER_ERROR,
        _REASONS.get(refusal.status, "Error"),
    )
    if refusal.retry_after is not None:
        if sim.config.faults.retry_after == "http-date":
            at = sim.clock.time() + retry_after_seconds(refusal.retry_after)
            response.headers["Retry-After"] = email.utils.formatdate(at, usegmt=True)
        else:
            response.headers["Retry-After"] = str(retry_after_seconds(refusal.retry_after))
    return response


def _drop(request: web.Request) -> web.Response:
    """Close the connection without an answer; aiohttp then gives up writing quietly."""
    if request.transport is not None:
        request.transport.close()
    return web.Response(status=204)


# Handlers.


async def _token(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR_KEY]
    form = await request.post()
    if form.get("grant_type") != "client_credentials":
        return _oauth_error(400, "unsupported_grant_type", "Only client_credentials is supported")
    client_id, client_secret = form.get("client_id"), form.get("client_secret")
    basic_id, basic_secret = _basic_credentials(request)
    client_id = basic_id if basic_id is not None else client_id
    client_secret = basic_secret if basic_secret is not None else client_secret
    # The X.509 variant sends no secret: the client certificate the TLS handshake verified
    # stands for it (mTLS), as SAP's certificate-based token endpoint does.
    proven = client_secret == sim.config.client_secret or (
        client_secret is None and _client_certificate(request)
    )
    if sim.config.auth and (client_id != sim.config.client_id or not proven):
        return _oauth_error(401, "unauthorized", "Bad credentials")
    scopes = sim.client_scopes()
    token, lifetime = sim.issue_token()  # with client_scopes(): tests wrap it without args
    return web.json_response(
        {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": lifetime,
            # XSUAA lists the granted scopes here, space-separated, and in the JWT's claim.
            "scope": " ".join(sorted(scopes)),
        }
    )


def _client_certificate(request: web.Request) -> bool:
    """Whether the connection presented a client certificate that the handshake verified."""
    transport = request.transport
    return transport is not None and bool(transport.get_extra_info("peercert"))


def _basic_credentials(request: web.Request) -> tuple[str | None, str | None]:
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None, None
    try:
        decoded = base64.b64decode(encoded, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    client_id, sep, client_secret = decoded.partition(":")
    return (client_id, client_secret) if sep else (None, None)


def _oauth_error(status: int, error: str, description: str) -> web.Response:
    return web.json_response({"error": error, "error_description": description}, status=status)


async def _meta(request: web.Request) -> web.Response:
    config = request.app[SIMULATOR_KEY].config
    capabilities: dict[str, Any] = {
        "logs": {"executions": True, "deployments": True},
        "multitenant": True,
        "shareable": True,
        "staticDeployments": True,
        "userDeployments": True,
        "userExecutions": True,
    }
    # Off means absent, as in SAP's own sample: the spec's default for a missing key is false.
    bulk = {kind: True for kind in _rules.KINDS if config.bulk_enabled(kind)}
    if bulk:
        capabilities["bulkUpdates"] = bulk
    return web.json_response(
        {
            "runtimeIdentifier": "aicore",
            "runtimeApiVersion": "2.42.0",
            "description": "AI Core (aicore-bulk simulator)",
            "aiApi": {
                "version": "2.42.0",
                "capabilities": capabilities,
                "limits": {
                    "executions": {"maxRunningCount": -1},
                    "deployments": {"maxRunningCount": -1},
                },
            },
        }
    )


async def _list(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR_KEY]
    kind, group = _kind(request), _resource_group(request)
    query = request.query
    top = _int_param(query, "top", default=_DEFAULT_TOP, maximum=_MAX_TOP)
    skip = _int_param(query, "skip", default=0, maximum=None)
    only_status = _select(query)
    if any(name in query for name in (*_LIST_FILTERS, "status", "executableIds")):
        matches = _filtered(sim, kind, group, query)
        page, total = matches[skip : skip + top], len(matches)
    else:
        page, total = sim.store.page(kind, group, skip, top)
    for item in page:
        item.seen_status = item.status
    status = query.get("status")
    if status is not None and skip == 0 and total <= top:
        _forget_left_status(sim, kind, group, query, status)
    render = _render_status if only_status else _render
    resources = [render(item) for item in page]
    count = total if sim.config.list_count == "total" else len(page)
    return web.json_response({"count": count, "resources": resources})


def _forget_left_status(sim: Simulator, kind: Kind, group: str, query: Any, status: str) -> None:  # noqa: ANN401
    """A complete list filtered by ``status`` tells the client which items are no longer in it.

    An item the client last saw in ``status`` that the list leaves out has moved on: what the
    client knows of it is now "not ``status``", which forbids nothing.
    """
    others = {name: value for name, value in query.items() if name != "status"}
    left = {item.id for item in _filtered(sim, kind, group, others)}
    for item in sim.store.scan(kind, group):
        if item.id in left and item.seen_status == status and item.status != status:
            item.seen_status = None


async def _count(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR_KEY]
    kind, group = _kind(request), _resource_group(request)
    return web.Response(text=str(len(_filtered(sim, kind, group, request.query))))


async def _get(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR_KEY]
    kind, group = _kind(request), _resource_group(request)
    item_id = request.match_info["id"]
    only_status = _select(request.query)
    item = sim.store.get(kind, group, item_id)
    if item is None:
        raise _ApiError(404, _rules.CODE_NOT_FOUND[kind], _rules.not_found_message(kind, item_id))
    item.seen_status = item.status
    return web.json_response(_render_status(item) if only_status else _render(item))


async def _stop(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR_KEY]
    kind, group = _kind(request), _resource_group(request)
    item_id = request.match_info["id"]
    if request.content_type != "application/json":
        sim.recorder.violation("wrong-content-type", f"single PATCH sent as {request.content_type}")
    body = await _json_body(request)
    allowed = {"targetStatus", "configurationId"} if kind == "deployments" else {"targetStatus"}
    if not isinstance(body, dict) or not body or set(body) - allowed:
        _malformed(sim, f"PATCH body must be an object with {sorted(allowed)}")
    if "targetStatus" in body and body["targetStatus"] != "STOPPED":
        _malformed(sim, "targetStatus must be STOPPED")
    if "configurationId" in body:
        return _reconfigure(sim, kind, group, item_id, body["configurationId"])
    return _single_change(request, kind, group, item_id, "stop")


async def _delete(request: web.Request) -> web.Response:
    kind, group = _kind(request), _resource_group(request)
    return _single_change(request, kind, group, request.match_info["id"], "delete")


async def _bulk(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR_KEY]
    kind, group = _kind(request), _resource_group(request)
    if not sim.config.bulk_enabled(kind):
        sim.recorder.violation("bulk-disabled", f"bulk PATCH of {kind} while meta says it is off")
        raise _ApiError(404, _rules.CODE_BULK_DISABLED, f"Bulk updates of {kind} are not enabled")
    if request.content_type != _MERGE_PATCH:
        sim.recorder.violation("wrong-content-type", f"bulk PATCH sent as {request.content_type}")
    entries = _bulk_entries(sim, kind, await _json_body(request))
    sim.recorder.bulk_sizes[len(entries)] += 1
    sim.recorder.group_bulk_sizes.setdefault(group, Counter())[len(entries)] += 1
    answers: list[dict[str, Any]] = []
    for item_id, target in entries:
        operation: Operation = "stop" if target == "STOPPED" else "delete"
        refusal = _apply(request, kind, group, item_id, operation)
        if refusal is None:
            message = f"{_rules.SINGULAR[kind]} modification scheduled"
            answers.append({"id": item_id, "message": message})
        else:
            answers.append({"id": item_id, "error": _error_body(request, sim, *refusal)})
    if sim.config.shuffle_answers:
        sim.rng.shuffle(answers)
    return web.json_response({kind: answers}, status=202)


def _bulk_entries(sim: Simulator, kind: Kind, body: object) -> list[tuple[str, str]]:
    """The (id, targetStatus) pairs of a bulk body, after every request-level check."""
    if not isinstance(body, dict) or set(body) != {kind}:
        _malformed(sim, f'bulk body must be an object with the single key "{kind}"')
    raw = cast("dict[str, object]", body)[kind]
    if not isinstance(raw, list):
        _malformed(sim, f'"{kind}" must be a list')
    entries: list[tuple[str, str]] = []
    for entry in cast("list[object]", raw):
        if (
            not isinstance(entry, dict)
            or set(entry) != _BULK_ITEM_KEYS
            or not isinstance(entry["id"], str)
            or entry["targetStatus"] not in {"STOPPED", "DELETED"}
        ):
            _malformed(sim, 'each item must be {"id": str, "targetStatus": "STOPPED" | "DELETED"}')
        if not _rules.ID_PATTERN.match(entry["id"]):
            _malformed(sim, f"id {entry['id']!r} does not match {_rules.ID_PATTERN.pattern}")
        entries.append((entry["id"], entry["targetStatus"]))
    if not entries:
        sim.recorder.violation("batch-empty", "bulk PATCH with no items")
        raise _ApiError(400, _rules.CODE_BAD_REQUEST, f"{kind} must hold at least 1 item")
    if len(entries) > _rules.MAX_BULK_ITEMS:
        sim.recorder.violation("batch-too-large", f"bulk PATCH with {len(entries)} items")
        raise _ApiError(
            400,
            _rules.CODE_BAD_REQUEST,
            f"{kind} must hold at most {_rules.MAX_BULK_ITEMS} items, got {len(entries)}",
        )
    seen: set[str] = set()
    for item_id, _ in entries:
        if item_id in seen:
            sim.recorder.violation("repeated-id", f"{item_id} twice in one bulk PATCH")
            raise _ApiError(400, _rules.CODE_BAD_REQUEST, f"Duplicate id {item_id} in {kind}")
        seen.add(item_id)
    return entries


def _apply(
    request: web.Request, kind: Kind, group: str, item_id: str, operation: Operation
) -> tuple[str, str] | None:
    """Change one item; the refusal's (code, message) when the contract says no."""
    sim = request.app[SIMULATOR_KEY]
    told = request.get(_DELIVERED, True)
    sim.recorder.received[(kind, item_id, operation)] += 1
    change = sim.store.change(kind, group, item_id, operation, tell_client=told)
    if change.against_seen_status:
        sim.recorder.violation(
            "refused-transition",
            f"{operation} of {item_id} last seen {change.seen} (now {change.status})",
        )
    if change.refusal is None:
        sim.recorder.changed[operation] += 1
        sim.recorder.group_changed.setdefault(group, Counter())[operation] += 1
        return None
    if not change.refusal.not_found and not change.against_seen_status:
        sim.recorder.refused += 1
    return change.refusal.code, change.refusal.message


def _single_change(
    request: web.Request, kind: Kind, group: str, item_id: str, operation: Operation
) -> web.Response:
    sim = request.app[SIMULATOR_KEY]
    refusal = _apply(request, kind, group, item_id, operation)
    if refusal is not None:
        code, message = refusal
        not_found = code == _rules.CODE_NOT_FOUND[kind]
        raise _ApiError(404 if not_found else sim.config.conflict_status, code, message)
    if operation == "stop":
        body = {"id": item_id, "message": f"{_rules.SINGULAR[kind]} modification scheduled"}
    else:
        body = {"id": item_id, "message": "Deletion scheduled", "targetStatus": "DELETED"}
    return web.json_response(body, status=202)


def _reconfigure(
    sim: Simulator, kind: Kind, group: str, item_id: str, configuration_id: object
) -> web.Response:
    if not isinstance(configuration_id, str) or not _rules.ID_PATTERN.match(configuration_id):
        _malformed(sim, "configurationId must match the ID pattern")
    item = sim.store.get(kind, group, item_id)
    if item is None or item.deleted_at is not None:
        raise _ApiError(404, _rules.CODE_NOT_FOUND[kind], _rules.not_found_message(kind, item_id))
    if item.status not in _rules.STOPPABLE:
        raise _ApiError(
            sim.config.conflict_status,
            _rules.CODE_STATUS_CONFLICT,
            _rules.conflict_message(item.status),
        )
    item.configuration_id = configuration_id
    item.modified_at = sim.clock.time()
    return web.json_response(
        {"id": item_id, "message": "Deployment modification scheduled"}, status=202
    )


async def _statistics(request: web.Request) -> web.Response:
    stats = request.app[SIMULATOR_KEY].statistics()
    return web.json_response(
        {
            "requests": dict(stats.requests),
            "bulk_sizes": {str(size): n for size, n in stats.bulk_sizes.items()},
            "changed": dict(stats.changed),
            "refused": stats.refused,
            "peak_in_flight": stats.peak_in_flight,
            "throttled": stats.throttled,
            "faults": dict(stats.faults),
            "violation_count": stats.violation_count,
            "busy_seconds": stats.busy_seconds,
            "service_seconds": dict(stats.service_seconds),
            # Only the HTTP form: in a process of its own, the simulator's whole CPU time.
            "process_cpu_seconds": time.process_time()
            - request.app[SIMULATOR_KEY].recorder.cpu_started,
            "violations": [[v.rule, v.detail] for v in stats.violations[:20]],
            "capacity": request.app[SIMULATOR_KEY].config.capacity,
            "peak_queued": stats.peak_queued,
            "queued": stats.queued,
            "latency": attrs.asdict(stats.latency),
            "groups": {
                name: {
                    "requests": dict(group.requests),
                    "bulk_sizes": {str(size): n for size, n in group.bulk_sizes.items()},
                    "changed": dict(group.changed),
                    "throttled": group.throttled,
                }
                for name, group in stats.groups.items()
            },
        }
    )


async def _states(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR_KEY]
    query = request.query
    group = query.get("resourceGroup", query.get("resource_group", "default"))
    counts: dict[str, int] = {}
    for state in sim.states(_kind(request), group).values():
        key = "DELETED" if state.deleted else state.status
        counts[key] = counts.get(key, 0) + 1
    return web.json_response(counts)


async def _resource_groups(request: web.Request) -> web.Response:
    """``GET /v2/admin/resourceGroups``: the tenant's groups, by label, in pages.

    No ``AI-Resource-Group`` header: the listing is about the tenant, not one group.
    """
    sim = request.app[SIMULATOR_KEY]
    if sim.config.auth and ADMIN_SCOPE not in sim.token_scopes(_bearer(request)):
        raise _ApiError(
            403,
            _rules.CODE_FORBIDDEN,
            f"Listing resource groups needs the scope {ADMIN_SCOPE}, which the token lacks",
        )
    query = request.query
    cursor = _cursor(request, sim)
    requirements = parse_selector(cursor.selector)
    matches = [group for group in sim.resource_groups() if selects(requirements, group.labels)]
    end = len(matches) if cursor.end is None else min(cursor.end, len(matches))
    page_size = _max_page_size(request)
    stop = end if page_size is None else min(end, cursor.position + page_size)
    page = matches[cursor.position : stop]
    headers: dict[str, str] = {}
    if page_size is not None:
        headers["Preference-Applied"] = f"maxpagesize={page_size}"
    if stop < end:
        token = sim.continue_tokens.issue(attrs.evolve(cursor, position=stop))
        follow = {"continueToken": token}
        if cursor.selector:
            follow["labelSelector"] = ",".join(cursor.selector)
        if "$count" in query:
            follow["$count"] = query["$count"]
        headers["Link"] = f'<{request.url.with_query(follow)}>; rel="next"'
    resources = [
        {
            "resourceGroupId": group.resource_group_id,
            "tenantId": "simulator",
            "zoneId": "simulator",
            "createdAt": _timestamp(sim.resource_group_created_at(group.resource_group_id)),
            "labels": [{"key": key, "value": value} for key, value in group.labels.items()],
            "status": "PROVISIONED",
            "statusMessage": "",
            "servicePlan": "extended",
        }
        for group in page
    ]
    # ``$count=true``: every match on the server, whatever the page, $skip or $top.
    count = len(matches) if cursor.count_all else len(resources)
    return web.json_response({"count": count, "resources": resources}, headers=headers)


def _bearer(request: web.Request) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _cursor(request: web.Request, sim: Simulator) -> Cursor:
    """Where this listing starts: from its ``continueToken``, or from its own parameters.

    A continued request takes everything from the token; a ``labelSelector`` it repeats
    must be the token's, or the client has mixed up two listings.
    """
    query = request.query
    try:
        selector = tuple(str(r) for r in parse_selector(query.getall("labelSelector", [])))
    except SelectorError as error:
        raise _ApiError(400, _rules.CODE_BAD_REQUEST, str(error)) from None
    token = query.get("continueToken")
    if token is not None:
        try:
            cursor = sim.continue_tokens.read(token, now=sim.clock.time())
        except TokenError as error:
            status = 410 if error.expired else 400
            code = _rules.CODE_EXPIRED if error.expired else _rules.CODE_BAD_REQUEST
            raise _ApiError(status, code, str(error)) from None
        if "labelSelector" in query and selector != cursor.selector:
            raise _ApiError(
                400, _rules.CODE_BAD_REQUEST, "labelSelector differs from the continueToken's"
            )
        return cursor
    skip = _int_param(query, "skip", default=0, maximum=None)
    top = _int_param(query, "top", default=-1, maximum=None)
    return Cursor(
        selector=selector,
        position=skip,
        end=None if top < 0 else skip + top,
        count_all=_bool_param(query, "count"),
        issued_at=sim.clock.time(),
    )


def _max_page_size(request: web.Request) -> int | None:
    """``maxpagesize`` of the ``Prefer`` header(s) (RFC 7240), None when not asked for."""
    for header in request.headers.getall("Prefer", []):
        for preference in header.split(","):
            name, _, value = preference.partition("=")
            if name.strip().lower() not in {"maxpagesize", "odata.maxpagesize"}:
                continue  # RFC 7240: a preference the server does not know is ignored
            value = value.strip().strip('"')
            if not value.isdigit() or int(value) < 1:
                raise _ApiError(
                    400,
                    _rules.CODE_BAD_REQUEST,
                    f"Prefer: maxpagesize must be a whole number >= 1, not {value!r}",
                )
            return int(value)
    return None


async def _reset_statistics(request: web.Request) -> web.Response:
    request.app[SIMULATOR_KEY].reset_statistics()
    return web.json_response({})


# Request parsing.


def _kind(request: web.Request) -> Kind:
    return cast("Kind", request.match_info["kind"])


def _resource_group(request: web.Request) -> str:
    group = request.headers.get("AI-Resource-Group", "").strip()
    if not group:
        sim = request.app[SIMULATOR_KEY]
        sim.recorder.violation("missing-resource-group", f"{request.method} {request.path}")
        raise _ApiError(
            400, _rules.CODE_BAD_REQUEST, "Missing header parameter 'AI-Resource-Group'"
        )
    return group


async def _json_body(request: web.Request) -> object:
    sim = request.app[SIMULATOR_KEY]
    raw = await request.read()
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        _malformed(sim, "request body is not valid JSON")


def _malformed(sim: Simulator, message: str) -> NoReturn:
    sim.recorder.violation("malformed-body", message)
    raise _ApiError(400, _rules.CODE_BAD_REQUEST, message)


def _param(query: Any, name: str) -> str | None:  # noqa: ANN401 - a MultiDictProxy
    """OData-style ``$name``, or ``name`` as SAP's Python SDK sends it."""
    value = query.get(f"${name}")
    return cast("str | None", query.get(name) if value is None else value)


def _int_param(query: Any, name: str, *, default: int, maximum: int | None) -> int:  # noqa: ANN401
    raw = _param(query, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _ApiError(400, _rules.CODE_BAD_REQUEST, f"${name} must be an integer") from None
    if value < 0 or (maximum is not None and value > maximum):
        limit = f"0..{maximum}" if maximum is not None else ">= 0"
        raise _ApiError(400, _rules.CODE_BAD_REQUEST, f"${name} must be {limit}")
    return value


def _bool_param(query: Any, name: str) -> bool:  # noqa: ANN401
    raw = _param(query, name)
    if raw is None:
        return False
    if raw.lower() not in {"true", "false"}:
        raise _ApiError(400, _rules.CODE_BAD_REQUEST, f"${name} must be true or false")
    return raw.lower() == "true"


def _select(query: Any) -> bool:  # noqa: ANN401
    select = _param(query, "select")
    if select not in (None, "status"):
        raise _ApiError(400, _rules.CODE_BAD_REQUEST, "$select supports only 'status'")
    return select == "status"


def _filtered(sim: Simulator, kind: Kind, group: str, query: Any) -> list[Item]:  # noqa: ANN401
    status = query.get("status")
    if status is not None and status not in _rules.STATUSES:
        raise _ApiError(400, _rules.CODE_BAD_REQUEST, f"status must be one of {_rules.STATUSES}")
    executables = {e for e in query.get("executableIds", "").split(",") if e}
    wanted = {name: query.get(name) for name in _LIST_FILTERS if query.get(name) is not None}
    return [
        item
        for item in sim.store.scan(kind, group)
        if (status is None or item.status == status)
        and (not executables or item.executable_id in executables)
        and all(_attribute(item, name) == value for name, value in wanted.items())
    ]


def _attribute(item: Item, name: str) -> str | None:
    if name == "scenarioId":
        return item.scenario_id
    if name == "configurationId":
        return item.configuration_id
    return item.execution_schedule_id


# Responses.


def _render_status(item: Item) -> dict[str, Any]:
    """What ``$select=status`` leaves: the schema's required fields, as SAP's SDK expects."""
    return {
        "id": item.id,
        "configurationId": item.configuration_id,
        "status": item.status,
        "createdAt": _timestamp(item.created_at),
        "modifiedAt": _timestamp(item.modified_at),
    }


def _render(item: Item) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "id": item.id,
        "configurationId": item.configuration_id,
        "configurationName": item.configuration_name,
        "scenarioId": item.scenario_id,
        "executableId": item.executable_id,
        "status": item.status,
        "targetStatus": item.target_status,
        "createdAt": _timestamp(item.created_at),
        "modifiedAt": _timestamp(item.modified_at),
        "submissionTime": _timestamp(item.created_at),
        "startTime": _timestamp(item.start_time),
        "completionTime": _timestamp(item.completion_time),
    }
    if item.kind == "executions":
        resource["outputArtifacts"] = []
        if item.execution_schedule_id is not None:
            resource["executionScheduleId"] = item.execution_schedule_id
    else:
        resource["deploymentUrl"] = ""
        resource["lastOperation"] = "CREATE"
        resource["latestRunningConfigurationId"] = item.configuration_id
    return resource


def _timestamp(seconds: float | None) -> str | None:
    """ISO 8601 in UTC, to the second, as the service writes it.

    A list page renders two of these per item: ``strftime`` for each (4.5 us) made the
    simulator's own CPU, not the network, the cost of listing 100,000 items. The date part
    is formatted once per day, the time of day from a table of two-digit numbers (1 us).
    """
    if seconds is None:
        return None
    days, second_of_day = divmod(math.floor(seconds), _DAY)
    hours, rest = divmod(second_of_day, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{_date(days)}T{_TWO_DIGITS[hours]}:{_TWO_DIGITS[minutes]}:{_TWO_DIGITS[secs]}Z"


@functools.lru_cache(maxsize=1024)
def _date(days: int) -> str:
    """``YYYY-MM-DD`` of the day ``days`` after 1970-01-01."""
    return (_EPOCH + dt.timedelta(days=days)).strftime("%Y-%m-%d")


def _error_body(request: web.Request, sim: Simulator, code: str, message: str) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "requestId": sim.next_request_id(),
        "target": request.path,
    }


def _error(request: web.Request, status: int, code: str, message: str) -> web.Response:
    sim = request.app[SIMULATOR_KEY]
    return web.json_response(
        {"error": _error_body(request, sim, code, message)},
        status=status,
        reason=_REASONS.get(status),
    )
