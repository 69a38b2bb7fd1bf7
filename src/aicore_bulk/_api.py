"""The AI API's wire format: which URL, which body, and what an answer means per item.

Answers are parsed defensively: whatever a server or a proxy sends back (HTML, a cut-off
body, wrong types, missing or extra IDs) becomes per-item answers or "unanswered" items,
never an exception.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

import attrs

from aicore_bulk._caller import Caller, Failure, Reply
from aicore_bulk._errors import (
    AdminScopeError,
    AuthenticationError,
    ConfigurationError,
    ServiceError,
)
from aicore_bulk._gc import collector_paused
from aicore_bulk._models import (
    CODE_NOT_FOUND,
    CODE_STATUS_CONFLICT,
    ID_CHARACTERS,
    KINDS,
    STATUS_BY_VALUE,
    Deleting,
    ItemAnswer,
    Kind,
    Op,
    Seen,
    Status,
    Target,
)
from aicore_bulk._transport import Response, host_of

_MERGE_PATCH = "application/merge-patch+json"
_JSON = "application/json"
_NOT_FOUND = 404
#: The message of a per-item error that came without one: a bare ``null`` says nothing.
_NO_REASON = "refused without a message"
#: Items per page when whole resources are listed. A whole resource is about 2.7 times the
#: bytes of one read with ``$select=status`` and has three times the fields: a page of 25,000
#: whole resources (about 11 MB of JSON, 45 MB parsed) weighs less than one of 100,000
#: status-only entries (16 MB, 67 MB parsed), so a full listing adds nothing to the peak.
FULL_PAGE_SIZE: Final = 25_000


@attrs.frozen
class ChangeAnswer:
    """What came of one stop/delete request.

    Attributes:
        answers: Per-item answers, by ID.
        unanswered: IDs the answer did not cover (a cut-off or malformed body): the change
            may or may not have happened.
        failure: Set when the request as a whole had no usable answer.
        status: The HTTP status, when there was an answer.

    """

    answers: Mapping[str, ItemAnswer]
    unanswered: frozenset[str]
    failure: Failure | None = None
    status: int | None = None
    #: An earlier try of the request may have acted (see :class:`~aicore_bulk._caller.Reply`).
    unsure: bool = False


@attrs.define(eq=False)
class Api:
    """The AI API for one resource group, spoken through a :class:`Caller`."""

    caller: Caller
    base_url: str
    resource_group: str

    def _headers(self, content_type: str | None = None) -> dict[str, str]:
        headers = {"AI-Resource-Group": self.resource_group, "Accept": _JSON}
        if content_type:
            headers["Content-Type"] = content_type
        return headers

    async def bulk_capabilities(self) -> dict[Kind, bool]:
        """Which kinds support the bulk PATCH, per ``/lm/meta`` (missing means no)."""
        result = await self.caller.call(
            "GET", f"{self.base_url}/lm/meta", operation="meta", headers={"Accept": _JSON}
        )
        body = _expect_json(result, "reading /lm/meta", self.base_url)
        capabilities = _dig(body, "aiApi", "capabilities", "bulkUpdates")
        return {kind: _dig(capabilities, kind) is True for kind in KINDS}

    async def count(self, kind: Kind) -> int:
        """How many items of ``kind`` the resource group holds (``$count``)."""
        reply = await self.caller.call(
            "GET", f"{self.base_url}/lm/{kind}/$count", operation="count", headers=self._headers()
        )
        if isinstance(reply, Failure):
            raise _failed(f"counting {kind}", reply, self.base_url)
        result = reply.response
        _raise_for_request(result, f"counting {kind}")
        try:
            return int(result.body.decode().strip())
        except (ValueError, UnicodeDecodeError):
            raise ServiceError(f"counting {kind}: the answer is not a number") from None

    async def list_statuses(
        self,
        kind: Kind,
        *,
        status: Status | None = None,
        page_size: int,
        full: bool = False,
    ) -> AsyncGenerator[list[tuple[str, Seen]]]:
        """Pages of (id, what was seen); malformed entries left out.

        Read with ``$select=status`` (the spec's only ``$select``, whose answer holds the
        schema's required fields, not ``targetStatus``) unless ``full``: whole resources,
        which tell a deletion already scheduled, in pages of at most :data:`FULL_PAGE_SIZE`.
        """
        async for page in self._pages(kind, status=status, page_size=page_size, full=full):
            with collector_paused():  # up to 100,000 pairs, none in a cycle
                # _listed inlined (one call less per entry: 0.5 us of 4 an entry).
                statuses = [
                    (item_id, seen)
                    for entry in page
                    if type(entry) is dict
                    and type(item_id := entry.get("id")) is str
                    and (seen := seen_in(entry)) is not None
                ]
            del page  # the parsed entries: not kept alive while the next page is read
            yield statuses

    async def list_resources(
        self,
        kind: Kind,
        *,
        status: Status | None = None,
        page_size: int,
        filters: Mapping[str, str] | None = None,
        full: bool = False,
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Pages of resources (only the schema's required fields unless ``full``).

        Entries without a string ``id`` and a known ``status`` are left out.
        """
        async for page in self._pages(
            kind, status=status, page_size=page_size, filters=filters, full=full
        ):
            yield [entry for entry in page if _listed(entry) is not None]

    async def _pages(
        self,
        kind: Kind,
        *,
        status: Status | None = None,
        page_size: int,
        filters: Mapping[str, str] | None = None,
        full: bool = False,
    ) -> AsyncIterator[list[Any]]:
        """The ``resources`` lists of a listing, page by page, as the service sent them.

        Paging stops at the first short page. Whole resources (``full``) come in pages of at
        most :data:`FULL_PAGE_SIZE`.

        Raises:
            ServiceError: The answer is not a list of resources, or a full page repeats the
                one before it (a server or proxy that ignores ``$skip`` would page forever).
        """
        if full:
            page_size = min(page_size, FULL_PAGE_SIZE)
        skip = 0
        previous: tuple[object, ...] | None = None
        while True:
            params = {"$top": str(page_size), "$skip": str(skip)}
            if not full:
                params["$select"] = "status"
            if status is not None:
                params["status"] = status.value
            params.update(filters or {})
            reply = await self.caller.call(
                "GET",
                f"{self.base_url}/lm/{kind}",
                operation="list",
                headers=self._headers(),
                params=params,
            )
            with collector_paused():  # a page is up to 100,000 dicts, none in a cycle
                body = _expect_json(reply, f"listing {kind}", self.base_url)
            resources = body.get("resources") if isinstance(body, dict) else None
            if not isinstance(resources, list):
                raise ServiceError(f"listing {kind}: the answer has no resources list")
            # Ends and length stand for the page: keeping a whole page of 100,000 entries
            # alive only to compare it would double the listing's memory.
            seen = (len(resources), resources[0], resources[-1]) if resources else None
            if seen is not None and seen == previous:
                raise ServiceError(
                    f"listing {kind}: the page at $skip={skip} repeats the one before it "
                    "(the service ignores $skip)"
                )
            yield resources
            if len(resources) < page_size:
                return
            skip += len(resources)
            previous = seen
            # Let this page go before the next one is read: otherwise two pages of 100,000
            # parsed entries (about 55 MB each) would be alive at once.
            del reply, body, resources

    async def get_status(
        self, kind: Kind, item_id: str, *, full: bool = True
    ) -> Seen | Failure | None:
        """What one item shows; None when it does not exist; a Failure when unreadable.

        The whole resource unless ``full`` is False (``$select=status``): one resource is a
        few hundred bytes either way, and only the whole one tells a deletion already scheduled.
        """
        reply = await self.caller.call(
            "GET",
            f"{self.base_url}/lm/{kind}/{item_id}",
            operation="get",
            headers=self._headers(),
            params={} if full else {"$select": "status"},
        )
        if isinstance(reply, Failure):
            return reply
        result = reply.response
        if result.status == 404:  # noqa: PLR2004
            return None
        if result.status != 200:  # noqa: PLR2004
            _raise_for_request(result, f"reading {kind} {item_id}")
            return Failure(maybe_applied=False, status=result.status, message=_error_text(result))
        body = _json(result.body)
        seen = seen_in(body) if isinstance(body, dict) else None
        if seen is None:
            message = f"HTTP {result.status} without a valid status"
            return Failure(maybe_applied=False, status=result.status, message=message)
        return seen

    async def change_in_bulk(
        self,
        kind: Kind,
        ops: Sequence[Op],
        *,
        last_look: Callable[[], Sequence[Op]] | None = None,
    ) -> ChangeAnswer:
        """One bulk PATCH of up to 100 distinct items.

        ``last_look`` returns the ops still worth sending when the request gets its turn;
        the answer then covers those only.
        """
        sent = list(ops)

        def body() -> bytes | None:
            nonlocal sent
            if last_look is not None:
                sent = list(last_look())
            if not sent:
                return None
            return bulk_body(kind, sent)

        def changes() -> tuple[int, int]:
            stops = sum(op.target is Target.STOPPED for op in sent)
            return stops, len(sent) - stops

        reply = await self.caller.call(
            "PATCH",
            f"{self.base_url}/lm/{kind}",
            operation="bulk",
            headers=self._headers(_MERGE_PATCH),
            last_look=body,
            items=len(ops),
            resend_unsure=False,
            changes=changes,
        )
        ids = [op.id for op in sent]
        if isinstance(reply, Failure):
            return ChangeAnswer({}, frozenset(), failure=reply)
        result = reply.response
        if not _success(result.status):
            _raise_for_request(result, f"changing {kind}")
            return attrs.evolve(_refused_whole(ids, result), unsure=reply.unsure)
        # The contract says 202; another 2xx still means the service took the request and may
        # have acted, so it is read the same way (what it does not answer is read again).
        answer = parse_bulk_answer(kind, ids, result.body, status=result.status)
        return attrs.evolve(answer, unsure=reply.unsure)

    async def change_one(self, kind: Kind, op: Op) -> ChangeAnswer:
        """``PATCH /{id}`` (stop) or ``DELETE /{id}``, for when bulk updates are off."""
        url = f"{self.base_url}/lm/{kind}/{op.id}"
        if op.target is Target.STOPPED:
            reply = await self.caller.call(
                "PATCH",
                url,
                operation="stop",
                headers=self._headers(_JSON),
                body=b'{"targetStatus": "STOPPED"}',
                items=1,
                resend_unsure=False,
                changes=lambda: (1, 0),
            )
        else:
            reply = await self.caller.call(
                "DELETE",
                url,
                operation="delete",
                headers=self._headers(),
                items=1,
                resend_unsure=False,
                changes=lambda: (0, 1),
            )
        if isinstance(reply, Failure):
            return ChangeAnswer({}, frozenset(), failure=reply)
        result, unsure = reply.response, reply.unsure
        if _success(result.status):
            # The contract says 202; a 200 or 204 (a proxy, a newer service) also means done.
            return ChangeAnswer(
                {op.id: ItemAnswer("accepted")}, frozenset(), status=result.status, unsure=unsure
            )
        _raise_for_request(result, f"changing {kind} {op.id}")
        code, message = _error_fields(result.body)
        message = message or f"HTTP {result.status}"
        answer = (
            ItemAnswer("not_found", code, message)
            if result.status == _NOT_FOUND
            else _classify(code, message)
        )
        return ChangeAnswer({op.id: answer}, frozenset(), status=result.status, unsure=unsure)


#: Resource groups per page of the admin listing (``Prefer: maxpagesize``): a tenant rarely
#: has more, and a page of a thousand is a few hundred kilobytes.
GROUP_PAGE_SIZE: Final = 1000
_FORBIDDEN = 403


async def list_resource_groups(
    caller: Caller, base_url: str, *, selector: str | None, page_size: int = GROUP_PAGE_SIZE
) -> list[str]:
    """The IDs of the tenant's resource groups (``GET /admin/resourceGroups``), in its order.

    ``selector`` is the ``labelSelector`` (``key=value,key!=value``). Pages are asked for
    with ``Prefer: maxpagesize`` and followed through the ``continueToken`` of the ``Link``
    header: a page may hold fewer groups than asked (even none), and only a missing ``Link``
    ends the listing.

    Raises:
        AdminScopeError: The credentials may not list resource groups (403).
        ServiceError: No usable answer, or a ``continueToken`` that repeats.
    """
    url = f"{base_url}/admin/resourceGroups"
    headers = {"Accept": _JSON, "Prefer": f"maxpagesize={page_size}"}
    groups: dict[str, None] = {}
    token: str | None = None
    tokens: set[str] = set()
    while True:
        params = {"labelSelector": selector} if selector else {}
        if token is not None:
            params["continueToken"] = token
        reply = await caller.call("GET", url, operation="groups", headers=headers, params=params)
        if not isinstance(reply, Failure) and reply.response.status == _FORBIDDEN:
            raise AdminScopeError(
                "listing the resource groups is forbidden (403): these credentials lack the "
                "admin scope, so name the groups instead (ResourceGroups(names=[...]), or "
                "--resource-group once per group); the service said: "
                + _error_text(reply.response),
                status=_FORBIDDEN,
            )
        body = _expect_json(reply, "listing resource groups", base_url)
        resources = body.get("resources") if isinstance(body, dict) else None
        if not isinstance(resources, list):
            raise ServiceError("listing resource groups: the answer has no resources list")
        for entry in resources:
            name = entry.get("resourceGroupId") if isinstance(entry, dict) else None
            if isinstance(name, str) and name:
                groups[name] = None
        assert not isinstance(reply, Failure)  # noqa: S101 - _expect_json raised for it
        link = (value for name, value in reply.response.headers.items() if name.lower() == "link")
        token = _continue_token(next(link, ""))
        if token is None:
            return list(groups)
        if token in tokens:
            raise ServiceError("listing resource groups: the service repeats its continueToken")
        tokens.add(token)


def _continue_token(link: str) -> str | None:
    """The ``continueToken`` of the ``rel="next"`` URL of a ``Link`` header, if any."""
    for part in link.split(","):
        target, _, rest = part.partition(";")
        if "next" not in rest:
            continue
        values = parse_qs(urlsplit(target.strip().strip("<>")).query).get("continueToken")
        if values:
            return values[0]
    return None


def bulk_body(kind: Kind, ops: Sequence[Op]) -> bytes:
    """The bulk PATCH's body, as ``json.dumps`` writes it."""
    if _PLAIN.fullmatch("".join([op.id for op in ops])):
        # Every ID as the spec allows it (intake checks them; a journal's are not checked
        # again), and targets are plain words: nothing to escape, so the text is written as
        # is, at less than half of what json.dumps of 100 dicts costs (0.3 us an item).
        items = ", ".join([_ITEM[target] % item_id for item_id, target in ops])
        return f'{{"{kind}": [{items}]}}'.encode()
    # A Target is a str: JSON writes it as its value (``.value`` is a slow property).
    return json.dumps({kind: [{"id": op.id, "targetStatus": op.target} for op in ops]}).encode()


#: IDs joined, when each is of the spec's characters: nothing in them needs a JSON escape.
_PLAIN: Final = re.compile(f"[{re.escape(ID_CHARACTERS)}]*")
#: One change of the body, by target (formatting a Target itself goes through Enum's code).
_ITEM: Final = {target: f'{{"id": "%s", "targetStatus": "{target.value}"}}' for target in Target}


def parse_bulk_answer(kind: Kind, ids: Sequence[str], body: bytes, *, status: int) -> ChangeAnswer:
    """Per-item answers of a bulk 202, matched by ID (the order is not promised)."""
    parsed = _json(body)
    entries = parsed.get(kind) if isinstance(parsed, dict) else None
    answers: dict[str, ItemAnswer] = {}
    wanted = set(ids)  # an ID leaves it with its first usable answer
    #: One answer per distinct message: a million items share the service's few messages.
    accepted: dict[str, ItemAnswer] = {}
    if type(entries) is list:
        # Once per item of every request: exact type checks (JSON makes no subclasses) and
        # no calls on the common path, about a third less CPU than isinstance and helpers.
        for entry in entries:
            if type(entry) is not dict:
                continue
            item_id = entry.get("id")
            if type(item_id) is not str or item_id not in wanted:
                continue  # an ID we did not send, or a second answer: neither can be trusted
            error = entry.get("error")
            if error is None:
                message = entry.get("message")
                if type(message) is not str:
                    continue
                answer = accepted.get(message)
                if answer is None:
                    answer = accepted[message] = ItemAnswer("accepted", None, sys.intern(message))
            elif type(error) is dict:
                code, message = _fields(error)
                answer = _classify(code, message or _NO_REASON)
            else:
                continue
            answers[item_id] = answer
            wanted.remove(item_id)
    return ChangeAnswer(answers, frozenset(wanted), status=status)


def _success(status: int) -> bool:
    return 200 <= status < 300  # noqa: PLR2004


def _listed(entry: object) -> tuple[str, Seen] | None:
    """A listed entry's ID and what it shows; None without a string ID and a known status."""
    if type(entry) is not dict:
        return None
    item_id = entry.get("id")
    if type(item_id) is not str:
        return None
    seen = seen_in(entry)
    return None if seen is None else (item_id, seen)


def seen_in(resource: dict[str, Any]) -> Seen | None:
    """What a resource shows: its status, and a deletion already scheduled when it says so.

    ``targetStatus`` is used whenever an answer carries it; a ``$select=status`` answer does
    not, and then only the status is known. None when the status is missing or unknown.
    """
    text = resource.get("status")
    # Types first: a list or dict as status is unhashable and would break the lookup.
    if type(text) is not str:
        return None
    status = STATUS_BY_VALUE.get(text)
    if status is None or resource.get("targetStatus") != "DELETED":
        return status
    return _DELETING[status]


#: One per status: a million reads make no new objects for it.
_DELETING: Final = {status: Deleting(status) for status in Status}


def _classify(code: str | None, message: str | None) -> ItemAnswer:
    if code in CODE_NOT_FOUND:
        return ItemAnswer("not_found", code, message)
    if code == CODE_STATUS_CONFLICT:
        return ItemAnswer("conflict", code, message)
    return ItemAnswer("refused", code, message)


def _refused_whole(ids: Sequence[str], response: Response) -> ChangeAnswer:
    """A request-level refusal (a 400, say): every item gets the server's code and message."""
    code, message = _error_fields(response.body)
    answer = ItemAnswer("refused", code, message or f"HTTP {response.status}")
    return ChangeAnswer(dict.fromkeys(ids, answer), frozenset(), status=response.status)


def _raise_for_request(response: Response, what: str) -> None:
    """Statuses that concern the whole run, not an item: stop it with a clear error."""
    if response.status == 401:  # noqa: PLR2004
        raise AuthenticationError(f"{what}: the API refused a fresh token (401)", status=401)
    if response.status == 403:  # noqa: PLR2004
        raise AuthenticationError(f"{what}: forbidden (403): {_error_text(response)}", status=403)
    if response.status == 400 and b"AI-Resource-Group" in response.body:  # noqa: PLR2004
        raise ConfigurationError(f"{what}: {_error_text(response)}")


def _failed(what: str, failure: Failure, base_url: str) -> ServiceError:
    """The run-wide error for a read that got no usable answer."""
    if failure.unreachable:
        # No try ever connected: the URL is wrong or the service is down, not this read.
        return ServiceError(f"cannot reach the AI API at {host_of(base_url)}: {failure.message}")
    return ServiceError(f"{what} failed: {failure.message}", status=failure.status)


def _expect_json(reply: Reply | Failure, what: str, base_url: str) -> Any:  # noqa: ANN401 - JSON
    if isinstance(reply, Failure):
        raise _failed(what, reply, base_url)
    result = reply.response
    _raise_for_request(result, what)
    if result.status != 200:  # noqa: PLR2004
        raise ServiceError(
            f"{what}: HTTP {result.status}: {_error_text(result)}", status=result.status
        )
    body = _json(result.body)
    if body is None:
        raise ServiceError(f"{what}: the answer is not JSON", status=result.status)
    return body


def _json(body: bytes) -> Any:  # noqa: ANN401 - JSON
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None


def _dig(value: Any, *keys: str) -> Any:  # noqa: ANN401 - JSON
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _fields(error: Mapping[str, Any]) -> tuple[str | None, str | None]:
    code, message = error.get("code"), error.get("message")
    return (
        sys.intern(str(code)) if isinstance(code, (str, int)) else None,
        sys.intern(str(message)[:500]) if message is not None else None,
    )


def _error_fields(body: bytes) -> tuple[str | None, str | None]:
    parsed = _json(body)
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if isinstance(error, dict):
        return _fields(error)
    if isinstance(parsed, dict) and isinstance(error, str):
        # OAuth-style bodies: {"error": "invalid_token", "error_description": "..."}
        return error, str(parsed.get("error_description") or error)[:500]
    return None, None


def _error_text(response: Response) -> str:
    code, message = _error_fields(response.body)
    if message:
        return f"{message} ({code})" if code else message
    return f"HTTP {response.status}"
