"""``GET /v2/admin/resourceGroups``: labels, label selectors, paging, the admin scope."""

from __future__ import annotations

import base64
import json
import re

import attrs
import pytest

from aicore_bulk.testing import Faults, ResourceGroup, Simulator, SimulatorConfig

TEAM = "ext.ai.sap.com/team"
STAGE = "ext.ai.sap.com/stage"

TENANT = SimulatorConfig(
    resource_groups={
        "default": {},
        "ml-train": {TEAM: "ml", STAGE: "dev"},
        "ml-serve": {TEAM: "ml", STAGE: "prod"},
        "web-shop": {TEAM: "web", STAGE: "prod"},
    }
)


@pytest.fixture
def aicore_simulator_config():
    """A tenant with four groups: two of team ml, one of team web, and the default one."""
    return TENANT


_LINK = re.compile(r'^<(?P<url>[^>]+)>; rel="next"$')


async def list_groups(api, *, params=None, prefer=None, url=None):
    """One listing request; returns (status, body, headers)."""
    headers = api.headers(resource_group=None)
    if prefer is not None:
        headers["Prefer"] = prefer
    target = url or f"{api.server.base_url}/admin/resourceGroups"
    async with api.session.get(target, headers=headers, params=params) as response:
        return response.status, await response.json(content_type=None), response.headers


def ids(body):
    return [group["resourceGroupId"] for group in body["resources"]]


async def test_lists_every_group_with_the_spec_fields(api, aicore_clock):
    """Each group comes with its ID, creation time, status and labels as key/value pairs."""
    code, body, _ = await list_groups(api)

    assert code == 200
    assert body["count"] == 4
    assert ids(body) == ["default", "ml-train", "ml-serve", "web-shop"]
    serve = body["resources"][1]
    assert serve["status"] == "PROVISIONED"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", serve["createdAt"])
    assert serve["labels"] == [{"key": TEAM, "value": "ml"}, {"key": STAGE, "value": "dev"}]
    assert body["resources"][0]["labels"] == []
    assert {"tenantId", "zoneId", "servicePlan"} <= set(serve)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"labelSelector": f"{TEAM}=ml"}, ["ml-train", "ml-serve"]),
        ({"labelSelector": f"{TEAM}!=ml"}, ["default", "web-shop"]),
        ({"labelSelector": f"{TEAM}=ml,{STAGE}=prod"}, ["ml-serve"]),
        ({"labelSelector": f"{TEAM}=ml,{STAGE}!=prod"}, ["ml-train"]),
        ([("labelSelector", f"{STAGE}=prod"), ("labelSelector", f"{TEAM}!=web")], ["ml-serve"]),
        ({"labelSelector": f"{TEAM}=nobody"}, []),
        ({"labelSelector": "team=ml"}, []),
    ],
    ids=["equal", "not-equal", "both-equal", "equal-and-not", "repeated", "none", "other-key"],
)
async def test_label_selectors_keep_the_groups_that_meet_them_all(api, params, expected):
    """key=value needs the label, key!=value its absence or another value; all must hold."""
    code, body, _ = await list_groups(api, params=params)

    assert code == 200
    assert ids(body) == expected
    assert body["count"] == len(expected)


@pytest.mark.parametrize(
    "selector",
    ["team", "team=ml=x", "team == ml", "a=", "=b", "team!ml", "team=ml,", "t=m l"],
)
async def test_bad_label_selectors_get_400_in_the_error_shape(api, selector):
    """A selector item the spec's pattern refuses is a 400 with the AI API error body."""
    code, body, _ = await list_groups(api, params={"labelSelector": selector})

    assert code == 400
    assert set(body["error"]) >= {"code", "message"}
    assert "labelSelector" in body["error"]["message"]


async def test_paging_follows_link_headers_to_the_end(api):
    """A maxpagesize cuts pages; each Link leads on with a continueToken until none is left."""
    pages = []
    code, body, headers = await list_groups(api, prefer="maxpagesize=3")
    pages.append((code, ids(body), body["count"]))
    while "Link" in headers:
        match = _LINK.match(headers["Link"])
        assert match is not None, headers["Link"]
        assert "continueToken=" in match["url"]
        code, body, headers = await list_groups(api, url=match["url"], prefer="maxpagesize=3")
        pages.append((code, ids(body), body["count"]))

    assert pages == [
        (200, ["default", "ml-train", "ml-serve"], 3),
        (200, ["web-shop"], 1),
    ]
    assert headers["Preference-Applied"] == "maxpagesize=3"


async def test_paging_keeps_the_label_selector(api):
    """A continued listing goes on with the first request's selector."""
    code, first, headers = await list_groups(
        api, params={"labelSelector": f"{STAGE}=prod"}, prefer="maxpagesize=1"
    )
    url = _LINK.match(headers["Link"])["url"]
    _, second, last_headers = await list_groups(api, url=url, prefer="maxpagesize=1")

    assert (code, ids(first), ids(second)) == (200, ["ml-serve"], ["web-shop"])
    assert "Link" not in last_headers


async def test_a_token_appended_to_the_first_query_works_too(api):
    """A client may send continueToken with its own parameters instead of the Link's URL."""
    params = {"labelSelector": f"{TEAM}!=web"}
    _, _, headers = await list_groups(api, params=params, prefer="maxpagesize=2")
    token = re.search(r"continueToken=([^&>]+)", headers["Link"])[1]

    code, body, rest = await list_groups(api, params={**params, "continueToken": token})

    assert (code, ids(body)) == (200, ["ml-serve"])
    assert "Link" not in rest


async def test_a_continued_request_without_prefer_gets_the_rest(api):
    """Without Prefer, a continued listing returns all that is left: maxpagesize is per request."""
    _, _, headers = await list_groups(api, prefer="maxpagesize=1")
    url = _LINK.match(headers["Link"])["url"]

    _, body, rest = await list_groups(api, url=url)

    assert ids(body) == ["ml-train", "ml-serve", "web-shop"]
    assert "Link" not in rest


async def test_a_continued_request_can_be_sent_again(api):
    """The same continueToken answers the same page twice (a retry after a lost answer)."""
    _, _, headers = await list_groups(api, prefer="maxpagesize=2")
    url = _LINK.match(headers["Link"])["url"]

    first = await list_groups(api, url=url, prefer="maxpagesize=2")
    again = await list_groups(api, url=url, prefer="maxpagesize=2")

    assert ids(first[1]) == ids(again[1]) == ["ml-serve", "web-shop"]


async def test_without_maxpagesize_there_is_one_page(api):
    """No Prefer header: every group in one answer and no Link."""
    _, body, headers = await list_groups(api)

    assert len(body["resources"]) == 4
    assert "Link" not in headers
    assert "Preference-Applied" not in headers


async def test_a_page_exactly_at_the_end_has_no_link(api):
    """A maxpagesize that the groups fill exactly gives no Link: nothing more is available."""
    _, body, headers = await list_groups(api, prefer="maxpagesize=4")

    assert len(body["resources"]) == 4
    assert "Link" not in headers


async def test_other_preferences_are_ignored(api):
    """Prefer may carry other preferences; only maxpagesize counts."""
    _, body, headers = await list_groups(api, prefer='return=minimal, maxpagesize="2"')

    assert ids(body) == ["default", "ml-train"]
    assert "Link" in headers


async def test_a_prefer_without_maxpagesize_gives_one_page(api):
    """A Prefer header with only other preferences leaves the listing whole."""
    _, body, headers = await list_groups(api, prefer="return=minimal")

    assert len(body["resources"]) == 4
    assert "Link" not in headers


@pytest.mark.parametrize("prefer", ["maxpagesize=0", "maxpagesize=-1", "maxpagesize=lots"])
async def test_a_bad_maxpagesize_gets_400(api, prefer):
    """The maxpagesize must be a whole number of at least 1."""
    code, body, _ = await list_groups(api, prefer=prefer)

    assert code == 400
    assert "maxpagesize" in body["error"]["message"]


async def test_an_unknown_continue_token_gets_400(api):
    """A token the simulator did not issue is refused."""
    code, body, _ = await list_groups(api, params={"continueToken": "made-up.token"})

    assert code == 400
    assert "continueToken" in body["error"]["message"]


async def test_an_expired_continue_token_gets_410(api, aicore_clock):
    """A token older than continue_token_lifetime is gone: 410, restart without it."""
    _, _, headers = await list_groups(api, prefer="maxpagesize=1")
    url = _LINK.match(headers["Link"])["url"]
    aicore_clock.advance(599)
    fresh, _, _ = await list_groups(api, url=url)
    aicore_clock.advance(1)
    await api.fetch_token()  # the first token is still good, but do not rely on it

    code, body, _ = await list_groups(api, url=url)

    assert fresh == 200
    assert code == 410
    assert body["error"]["code"]
    assert "expired" in body["error"]["message"]


async def test_a_continued_request_with_another_selector_gets_400(api):
    """A continueToken belongs to one listing: another labelSelector beside it is a mistake."""
    _, _, headers = await list_groups(
        api, params={"labelSelector": f"{TEAM}=ml"}, prefer="maxpagesize=1"
    )
    token = re.search(r"continueToken=([^&>]+)", headers["Link"])[1]

    code, body, _ = await list_groups(
        api, params={"labelSelector": f"{TEAM}=web", "continueToken": token}
    )

    assert code == 400
    assert "labelSelector" in body["error"]["message"]


@pytest.mark.parametrize(
    ("params", "expected", "count"),
    [
        ({"$top": "2"}, ["default", "ml-train"], 2),
        ({"$skip": "3"}, ["web-shop"], 1),
        ({"$skip": "1", "$top": "2", "$count": "true"}, ["ml-train", "ml-serve"], 4),
        ({"$count": "false"}, ["default", "ml-train", "ml-serve", "web-shop"], 4),
    ],
    ids=["top", "skip", "skip-top-count", "count-false"],
)
async def test_top_skip_and_count(api, params, expected, count):
    """$top and $skip cut the list; $count=true makes count the total of all matches."""
    code, body, _ = await list_groups(api, params=params)

    assert (code, ids(body), body["count"]) == (200, expected, count)


async def test_paging_stays_within_top(api):
    """Pages of a listing with $top end where $top ends; $count=true counts every match."""
    params = {"$top": "3", "$count": "true"}
    _, first, headers = await list_groups(api, params=params, prefer="maxpagesize=2")
    url = _LINK.match(headers["Link"])["url"]
    _, second, rest = await list_groups(api, url=url, prefer="maxpagesize=2")

    assert (ids(first), ids(second)) == (["default", "ml-train"], ["ml-serve"])
    assert (first["count"], second["count"]) == (4, 4)
    assert "%24count=true" in url or "$count=true" in url
    assert "Link" not in rest


@pytest.mark.parametrize("params", [{"$count": "yes"}, {"$top": "-1"}, {"$skip": "x"}])
async def test_bad_odata_parameters_get_400(api, params):
    """$count takes true or false; $top and $skip whole numbers >= 0."""
    code, body, _ = await list_groups(api, params=params)

    assert code == 400
    assert body["error"]["message"]


async def test_the_listing_needs_a_token(api):
    """Without a bearer token the admin endpoint answers 401 like every other."""
    api.token = None

    code, _, _ = await list_groups(api)

    assert code == 401


async def test_tokens_carry_their_scopes(api):
    """The token answer and the token's JWT claims list the scopes, the admin one included."""
    creds = api.server.credentials
    async with api.session.post(
        api.server.token_url,
        data={
            "grant_type": "client_credentials",
            "client_id": creds.client_id,
            "client_secret": creds.client_secret,
        },
    ) as response:
        body = await response.json()
    claims = body["access_token"].split(".")[1]
    decoded = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))

    assert set(body["scope"].split()) == {"uaa.resource", "aicore-bulk-simulator.admin"}
    assert set(decoded["scope"]) == set(body["scope"].split())
    assert decoded["client_id"] == creds.client_id


def test_groups_that_get_items_are_listed_without_labels(aicore_clock):
    """Seeding or putting items into an undeclared group makes it one of the tenant's groups."""
    sim = Simulator(clock=aicore_clock)
    sim.seed("executions", 2, resource_group="team-a")
    sim.put("executions", "exec-0001", "DEAD", resource_group="team-b")
    sim.put("executions", "exec-0002", "DEAD", resource_group="x")  # not a spec-valid ID

    assert sim.resource_groups() == (
        ResourceGroup("default"),
        ResourceGroup("team-a"),
        ResourceGroup("team-b"),
    )


def test_labels_of_a_group_can_be_changed(aicore_clock):
    """add_resource_group on an existing group replaces its labels and keeps its place."""
    sim = Simulator(clock=aicore_clock)
    sim.add_resource_group("team-a", {TEAM: "ml"})
    sim.add_resource_group("default", {TEAM: "core"})

    assert [(g.resource_group_id, dict(g.labels)) for g in sim.resource_groups()] == [
        ("default", {TEAM: "core"}),
        ("team-a", {TEAM: "ml"}),
    ]


@pytest.mark.parametrize(
    ("groups", "message"),
    [
        ({"ab": {}}, "3 to 253"),
        ({"-ab": {}}, "3 to 253"),
        ({"team_a": {}}, "3 to 253"),
        ({"team-a": {"team": "ml"}}, "ext.ai.sap.com/NAME"),
        ({"team-a": {"ext.ai.sap.com/": "ml"}}, "ext.ai.sap.com/NAME"),
        ({"team-a": {"ext.ai.sap.com/" + "t" * 49: "ml"}}, "ext.ai.sap.com/NAME"),
        ({"team-a": {TEAM: "v" * 5001}}, "5000"),
    ],
    ids=["short", "leading-dash", "underscore", "bare-key", "empty-key", "long-key", "long-value"],
)
def test_groups_and_labels_follow_the_spec(groups, message):
    """A resource group ID or label key the spec refuses is a ValueError naming the rule."""
    with pytest.raises(ValueError, match=message):
        SimulatorConfig(resource_groups=groups)


@pytest.mark.parametrize(
    "aicore_simulator_config",
    [attrs.evolve(TENANT, admin_scope=False)],
    ids=["no-admin-scope"],
)
async def test_without_the_admin_scope_only_the_listing_is_forbidden(api, aicore_simulator):
    """A token without the admin scope gets 403 on the admin listing and works everywhere else."""
    aicore_simulator.put("executions", "exec-0001", "DEAD", resource_group="ml-train")

    code, body, _ = await list_groups(api)
    listed, _, _ = await api.call("GET", "/lm/executions", resource_group="ml-train")
    changed, _, _ = await api.bulk(
        "executions", [{"id": "exec-0001", "targetStatus": "DELETED"}], resource_group="ml-train"
    )

    assert code == 403
    assert body["error"]["code"]
    assert "scope" in body["error"]["message"]
    assert (listed, changed) == (200, 202)


@pytest.mark.parametrize(
    "aicore_simulator_config",
    [attrs.evolve(TENANT, admin_scope=False, auth=False)],
    ids=["no-auth"],
)
async def test_without_auth_the_listing_needs_no_scope(api):
    """With auth switched off, nobody is checked for scopes either."""
    api.token = None

    code, body, _ = await list_groups(api)

    assert (code, len(body["resources"])) == (200, 4)


async def test_groups_stay_isolated_and_are_counted_apart(api, aicore_simulator):
    """Items of one group are invisible in another, and statistics count requests per group."""
    sim = aicore_simulator
    sim.put("executions", "exec-0001", "DEAD", resource_group="ml-train")
    sim.put("executions", "exec-0002", "DEAD", resource_group="ml-serve")

    wrong, _, _ = await api.bulk(
        "executions", [{"id": "exec-0001", "targetStatus": "DELETED"}], resource_group="ml-serve"
    )
    right, _, _ = await api.bulk(
        "executions", [{"id": "exec-0001", "targetStatus": "DELETED"}], resource_group="ml-train"
    )
    _, listing, _ = await api.call("GET", "/lm/executions", resource_group="web-shop")
    await list_groups(api)
    stats = sim.statistics()

    assert (wrong, right) == (202, 202)
    assert sim.state("executions", "exec-0001", "ml-train").deleted
    assert not sim.state("executions", "exec-0002", "ml-serve").deleted
    assert listing["resources"] == []
    assert stats.groups["ml-train"].requests == {"bulk": 1}
    assert stats.groups["ml-train"].bulk_sizes == {1: 1}
    assert stats.groups["ml-train"].changed == {"delete": 1}
    assert stats.groups["ml-serve"].changed == {}
    assert stats.groups["web-shop"].requests == {"list": 1}
    assert stats.requests["resource_groups"] == 1
    assert set(stats.groups) == {"ml-train", "ml-serve", "web-shop"}


async def test_state_and_statistics_paths_read_per_group(api, aicore_simulator):
    """/_simulator/states takes a resource group; /_simulator/statistics breaks counts down."""
    sim = aicore_simulator
    sim.put("executions", "exec-0001", "DEAD", resource_group="ml-train")
    sim.put("executions", "exec-0002", "RUNNING", resource_group="ml-train")
    sim.put("executions", "exec-0003", "DEAD")
    await api.bulk(
        "executions", [{"id": "exec-0001", "targetStatus": "DELETED"}], resource_group="ml-train"
    )

    async def read(path, **params):
        async with api.session.get(f"{api.server.url}{path}", params=params) as response:
            return await response.json()

    assert await read("/_simulator/states/executions", resourceGroup="ml-train") == {
        "DELETED": 1,
        "RUNNING": 1,
    }
    assert await read("/_simulator/states/executions", resource_group="ml-train") == {
        "DELETED": 1,
        "RUNNING": 1,
    }
    assert await read("/_simulator/states/executions") == {"DEAD": 1}
    stats = await read("/_simulator/statistics")
    assert stats["groups"] == {
        "ml-train": {
            "requests": {"bulk": 1},
            "bulk_sizes": {"1": 1},
            "changed": {"delete": 1},
            "throttled": 0,
        }
    }


def test_configs_and_groups_stay_hashable():
    """SimulatorConfig and ResourceGroup hash, though they hold mappings, and compare by value."""
    config = SimulatorConfig(resource_groups={"ml-train": {TEAM: "ml"}})
    same = SimulatorConfig(resource_groups={"ml-train": {TEAM: "ml"}})

    assert hash(config) == hash(same)
    assert config == same
    assert config != TENANT
    assert {ResourceGroup("ml-train", {TEAM: "ml"}), ResourceGroup("ml-train", {TEAM: "ml"})} == {
        ResourceGroup("ml-train", {TEAM: "ml"})
    }
    assert "mappingproxy" not in repr(config)


@pytest.mark.parametrize(
    "aicore_simulator_config",
    [attrs.evolve(TENANT, faults=Faults(rate_limit=1.0, rate_burst=2))],
    ids=["two-requests-at-once"],
)
async def test_throttling_is_counted_per_group_and_spans_the_tenant(api, aicore_simulator):
    """One tenant-wide limit: the admin listing and every group draw on it; 429s count per group."""
    first, _, _ = await list_groups(api)
    ml, _, _ = await api.call("GET", "/lm/executions", resource_group="ml-train")
    web, _, _ = await api.call("GET", "/lm/executions", resource_group="web-shop")
    listing, _, _ = await list_groups(api)
    stats = aicore_simulator.statistics()

    assert (first, ml, web, listing) == (200, 200, 429, 429)
    assert stats.throttled == 2
    assert stats.groups["ml-train"].throttled == 0
    assert stats.groups["web-shop"].throttled == 1
    assert stats.groups["web-shop"].requests == {"list": 1}
