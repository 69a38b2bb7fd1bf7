"""Choosing resource groups: the typed values, and listing the tenant's groups on the wire."""

from __future__ import annotations

import json

import anyio
import pytest

from aicore_bulk import (
    AdminScopeError,
    AuthenticationError,
    BulkClient,
    InputError,
    LabelMatch,
    MockTransport,
    ResourceGroups,
    Response,
    RetryPolicy,
    Selection,
    ServiceError,
    StaticToken,
)
from aicore_bulk._api import list_resource_groups
from aicore_bulk._caller import Caller
from aicore_bulk._rate import Pacer
from aicore_bulk._retry import RetryBudget
from aicore_bulk._window import Window
from aicore_bulk.testing import VirtualClock

BASE = "https://api.ai.example.com/v2"


def caller_of(handler) -> Caller:
    clock = VirtualClock()
    return Caller(
        transport=MockTransport(handler),
        auth=StaticToken("tok-123"),
        pacer=Pacer(clock),
        limiter=anyio.CapacityLimiter(4),
        retry=RetryPolicy(attempts=2, wait_initial=0),
        budget=RetryBudget(10),
        clock=clock,
        window=Window(clock, 4),
    )


def groups_page(*names: str, link: str | None = None) -> Response:
    body = {"count": len(names), "resources": [{"resourceGroupId": n} for n in names]}
    headers = {"Content-Type": "application/json"} | ({"Link": link} if link else {})
    return Response(200, headers, json.dumps(body).encode())


@pytest.mark.parametrize(
    ("text", "key", "value", "negated"),
    [
        ("ext.ai.sap.com/team=ml", "ext.ai.sap.com/team", "ml", False),
        ("ext.ai.sap.com/team!=web", "ext.ai.sap.com/team", "web", True),
    ],
)
def test_a_label_condition_is_parsed_from_its_text(text, key, value, negated):
    """``key=value`` matches, ``key!=value`` excludes; the text form comes back as given."""
    match = LabelMatch.parse(text)

    assert (match.key, match.value, match.negated) == (key, value, negated)
    assert str(match) == text


@pytest.mark.parametrize("text", ["team", "=ml", "team=", "a=b=c", "team = ml", "a,b=c", "a!!=b"])
def test_a_malformed_label_condition_is_refused(text):
    """Anything but KEY=VALUE or KEY!=VALUE is an InputError naming the text."""
    with pytest.raises(InputError, match="KEY=VALUE"):
        LabelMatch.parse(text)


def test_resource_groups_are_named_or_all_never_both_or_neither():
    """Names, or all groups narrowed by labels: other combinations are refused at once."""
    assert ResourceGroups(names=("a1", "b2", "a1")).names == ("a1", "b2")
    chosen = ResourceGroups.all(
        labels=["ext.ai.sap.com/team=ml", LabelMatch("k", "v", negated=True)]
    )
    assert chosen.selector == "ext.ai.sap.com/team=ml,k!=v"
    assert ResourceGroups.all().selector is None
    with pytest.raises(InputError, match="not both"):
        ResourceGroups(names=("a1",), every=True)
    with pytest.raises(InputError, match="no resource group"):
        ResourceGroups()
    with pytest.raises(InputError, match=r"ResourceGroups\.all"):
        ResourceGroups(names=("a1",), labels=("k=v",))
    with pytest.raises(InputError, match="not one string"):
        ResourceGroups(names="a1")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="not a resource group ID"):
        ResourceGroups(names=("has space",))


async def test_the_listing_follows_the_link_with_its_continue_token():
    """Pages are asked with Prefer: maxpagesize and the label selector, until no Link."""
    sent = []

    async def handler(request):
        sent.append(request)
        if "continueToken" not in request.params:
            return groups_page(
                "ml-a", link=f'<{BASE}/admin/resourceGroups?continueToken=t2>; rel="next"'
            )
        return groups_page("ml-b")

    names = await list_resource_groups(
        caller_of(handler), BASE, selector="ext.ai.sap.com/team=ml", page_size=1
    )

    assert names == ["ml-a", "ml-b"]
    assert [r.params.get("continueToken") for r in sent] == [None, "t2"]
    assert all(r.params["labelSelector"] == "ext.ai.sap.com/team=ml" for r in sent)
    assert all(r.headers["Prefer"] == "maxpagesize=1" for r in sent)
    assert all("AI-Resource-Group" not in r.headers for r in sent)


async def test_an_empty_page_with_a_link_is_not_the_end():
    """A page may be empty when filtered; only a missing Link ends the listing."""
    pages = iter(
        [
            groups_page(link=f'<{BASE}/admin/resourceGroups?continueToken=x>; rel="next"'),
            groups_page("w1"),
        ]
    )

    async def handler(request):
        return next(pages)

    assert await list_resource_groups(caller_of(handler), BASE, selector=None) == ["w1"]


async def test_a_continue_token_that_repeats_stops_the_listing():
    """A service that hands back the same token would page forever: a ServiceError instead."""

    async def handler(request):
        return groups_page(
            "g1", link=f'<{BASE}/admin/resourceGroups?continueToken=same>; rel="next"'
        )

    with pytest.raises(ServiceError, match="repeats"):
        await list_resource_groups(caller_of(handler), BASE, selector=None)


async def test_a_credential_without_the_admin_scope_gets_a_clear_error():
    """A 403 on the listing says the admin scope is missing and how to name groups instead."""

    async def handler(request):
        body = {"error": {"code": "403", "message": "insufficient scope"}}
        return Response(403, {}, json.dumps(body).encode())

    with pytest.raises(AdminScopeError, match=r"admin scope.*--resource-group") as caught:
        await list_resource_groups(caller_of(handler), BASE, selector=None)
    assert isinstance(caught.value, AuthenticationError)
    assert caught.value.status == 403


async def test_no_matching_group_is_an_error_and_nothing_is_changed():
    """A label selection that matches no group ends the run with an InputError."""
    sent = []

    async def handler(request):
        sent.append(request)
        return groups_page()

    async with BulkClient(
        base_url=BASE, resource_group="default", token="tok", transport=MockTransport(handler)
    ) as client:
        chosen = client.select(
            "executions",
            Selection(statuses="DEAD"),
            resource_groups=ResourceGroups.all(labels=["ext.ai.sap.com/team=none"]),
        )
        with pytest.raises(
            InputError, match=r"no resource group matches ext\.ai\.sap\.com/team=none"
        ):
            await client.delete("executions", chosen)

    assert [r.method for r in sent] == ["GET"]


def test_select_refuses_resource_groups_of_another_type():
    """resource_groups must be a ResourceGroups: a list of names is refused at once."""
    client = BulkClient(base_url=BASE, resource_group="default", token="tok")
    with pytest.raises(InputError, match="must be a ResourceGroups"):
        client.select("executions", Selection(), resource_groups=["a"])  # type: ignore[call-overload]
