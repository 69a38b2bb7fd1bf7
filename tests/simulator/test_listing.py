"""Listing, counting and reading one item, with the spec's filters and paging."""

from __future__ import annotations

import pytest

from aicore_bulk.testing import SimulatorConfig


@pytest.fixture
def tenant(aicore_simulator, aicore_clock):
    now = aicore_clock.now
    sim = aicore_simulator
    sim.put(
        "executions",
        "exec-0001",
        "RUNNING",
        scenario_id="train",
        executable_id="exe-a",
        configuration_id="cfg-1",
        created_at=now - 10 * 86400,
    )
    sim.put(
        "executions",
        "exec-0002",
        "COMPLETED",
        scenario_id="train",
        executable_id="exe-b",
        configuration_id="cfg-1",
        created_at=now - 5 * 86400,
    )
    sim.put(
        "executions",
        "exec-0003",
        "DEAD",
        scenario_id="score",
        executable_id="exe-c",
        configuration_id="cfg-2",
        created_at=now - 86400,
    )
    sim.put(
        "executions",
        "exec-0004",
        "COMPLETED",
        scenario_id="score",
        executable_id="exe-a",
        configuration_id="cfg-2",
        created_at=now,
    )
    return sim


async def ids_of(api, params, path="/lm/executions"):
    code, body, _ = await api.call("GET", path, params=params)
    assert code == 200, body
    return [r["id"] for r in body["resources"]]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ["exec-0001", "exec-0002", "exec-0003", "exec-0004"]),
        ({"status": "COMPLETED"}, ["exec-0002", "exec-0004"]),
        ({"scenarioId": "score"}, ["exec-0003", "exec-0004"]),
        ({"executableIds": "exe-a,exe-c"}, ["exec-0001", "exec-0003", "exec-0004"]),
        ({"configurationId": "cfg-1"}, ["exec-0001", "exec-0002"]),
        ({"scenarioId": "train", "status": "RUNNING"}, ["exec-0001"]),
        ({"$top": "2"}, ["exec-0001", "exec-0002"]),
        ({"$top": "2", "$skip": "3"}, ["exec-0004"]),
        ({"top": "1", "skip": "1"}, ["exec-0002"]),
    ],
    ids=[
        "all",
        "status",
        "scenario",
        "executables",
        "configuration",
        "combined",
        "top",
        "top-skip",
        "sdk-style-top-skip",
    ],
)
async def test_list_filters_and_pages(api, tenant, params, expected):
    """Each of the spec's filters narrows the list; $top/$skip (or top/skip) page it."""
    assert await ids_of(api, params) == expected


async def test_count_is_the_total_of_matches(api, tenant):
    """``count`` is the number of matches, not of the page (by default)."""
    _, body, _ = await api.call("GET", "/lm/executions", params={"$top": "1"})

    assert body["count"] == 4
    assert len(body["resources"]) == 1


@pytest.mark.parametrize(
    "aicore_simulator_config", [SimulatorConfig(list_count="page")], ids=["page-count"]
)
async def test_count_can_be_the_page_size(api, tenant):
    """The unverified alternative: ``count`` is the page's size."""
    _, body, _ = await api.call("GET", "/lm/executions", params={"$top": "1"})

    assert body["count"] == 1


async def test_dollar_count_answers_plain_text(api, tenant):
    """``$count`` answers a plain-text integer and takes the same filters."""
    code, body, response = await api.call(
        "GET", "/lm/executions/$count", params={"status": "COMPLETED"}
    )

    assert code == 200
    assert response.content_type == "text/plain"
    assert body == 2


async def test_select_status_keeps_only_the_required_fields(api, tenant):
    """``$select=status`` trims each resource to the schema's required fields."""
    _, body, _ = await api.call("GET", "/lm/executions", params={"$select": "status", "$top": "1"})
    _, one, _ = await api.call("GET", "/lm/executions/exec-0002", params={"$select": "status"})

    required = {"id", "configurationId", "status", "createdAt", "modifiedAt"}
    (first,) = body["resources"]
    assert set(first) == required
    assert (first["id"], first["status"]) == ("exec-0001", "RUNNING")
    assert set(one) == required
    assert (one["id"], one["status"]) == ("exec-0002", "COMPLETED")


async def test_full_resources_carry_the_specs_fields(api, tenant):
    """A full execution has every field SAP's SDKs read, with ISO timestamps."""
    _, body, _ = await api.call("GET", "/lm/executions/exec-0002")

    assert body["id"] == "exec-0002"
    assert body["targetStatus"] == "COMPLETED"
    for field in (
        "configurationId",
        "configurationName",
        "scenarioId",
        "executableId",
        "status",
        "createdAt",
        "modifiedAt",
    ):
        assert body[field], field
    assert body["createdAt"].endswith("Z")


async def test_execution_schedule_filter(api, aicore_simulator):
    """``executionScheduleId`` filters executions by their schedule."""
    ids = aicore_simulator.seed("executions", 20, schedules=("nightly-1", "weekly-1"))
    _, body, _ = await api.call(
        "GET", "/lm/executions", params={"executionScheduleId": "nightly-1"}
    )

    assert 0 < body["count"] < len(ids)
    assert all(r["executionScheduleId"] == "nightly-1" for r in body["resources"])


@pytest.mark.parametrize(
    "params",
    [{"status": "DELETING"}, {"$top": "100001"}, {"$top": "-1"}, {"$skip": "x"}, {"$select": "id"}],
    ids=["bad-status", "top-over-max", "negative-top", "non-integer-skip", "select-other"],
)
async def test_bad_query_parameters_are_400s(api, tenant, params):
    """Parameters outside the spec get a 400 with the AI API error body."""
    code, body, _ = await api.call("GET", "/lm/executions", params=params)

    assert code == 400
    assert body["error"]["code"]
    assert body["error"]["message"]


async def test_deployments_list_and_render(api, aicore_simulator):
    """Deployments list like executions and carry their own fields."""
    aicore_simulator.put("deployments", "dep-0001", "RUNNING")

    _, body, _ = await api.call("GET", "/lm/deployments")

    (dep,) = body["resources"]
    assert dep["targetStatus"] == "RUNNING"
    assert "deploymentUrl" in dep


async def test_introspection_endpoints_for_other_processes(api, aicore_simulator):
    """/_simulator/* report statistics and states, need no token, and count as no traffic."""
    aicore_simulator.put("executions", "done-0001", "COMPLETED")
    aicore_simulator.put("executions", "run-0001", "RUNNING")
    await api.bulk("executions", [{"id": "done-0001", "targetStatus": "DELETED"}])
    api.token = None
    base = api.server.url

    async with api.session.get(f"{base}/_simulator/statistics") as response:
        stats = await response.json()
    async with api.session.get(f"{base}/_simulator/states/executions") as response:
        states = await response.json()
    async with api.session.post(f"{base}/_simulator/reset-statistics") as response:
        assert response.status == 200

    assert stats["requests"] == {"token": 1, "bulk": 1}
    assert stats["bulk_sizes"] == {"1": 1}
    assert states == {"DELETED": 1, "RUNNING": 1}
    assert aicore_simulator.statistics().total_requests == 0


async def test_statistics_count_the_simulators_own_service_time(api, aicore_simulator):
    """Handler time is summed per operation and in total, and reset with the other counts."""
    aicore_simulator.seed("executions", 50, statuses={"DEAD": 1})
    await api.call("GET", "/lm/executions", params={"$top": "100"})
    await api.bulk("executions", [{"id": "missing-1", "targetStatus": "DELETED"}])
    base = api.server.url

    async with api.session.get(f"{base}/_simulator/statistics") as response:
        stats = await response.json()
    aicore_simulator.reset_statistics()

    assert set(stats["service_seconds"]) == {"token", "list", "bulk"}
    assert all(seconds > 0 for seconds in stats["service_seconds"].values())
    assert stats["busy_seconds"] == pytest.approx(sum(stats["service_seconds"].values()))
    assert aicore_simulator.statistics().busy_seconds == 0


async def test_unfiltered_pages_after_deletes_still_hide_expired_items(
    api, aicore_simulator, aicore_clock
):
    """Paging without filters stays exact while deleted items linger and after they expire."""
    ids = aicore_simulator.seed("executions", 30, statuses={"DEAD": 1})
    await api.bulk("executions", [{"id": i, "targetStatus": "DELETED"} for i in ids[:10]])

    _, lingering, _ = await api.call("GET", "/lm/executions", params={"$top": "100"})
    aicore_clock.advance(60)
    _, after, _ = await api.call("GET", "/lm/executions", params={"$top": "5", "$skip": "5"})

    assert lingering["count"] == 30
    assert after["count"] == 20
    assert [r["id"] for r in after["resources"]] == ids[15:20]


async def test_a_deleted_item_lingers_with_target_status_deleted_in_full_reads(api, tenant):
    """A lingering deleted item shows targetStatus DELETED when read whole, not with $select."""
    await api.bulk("executions", [{"id": "exec-0002", "targetStatus": "DELETED"}])

    _, full, _ = await api.call("GET", "/lm/executions")
    _, trimmed, _ = await api.call("GET", "/lm/executions", params={"$select": "status"})
    _, one, _ = await api.call("GET", "/lm/executions/exec-0002")

    lingering = {r["id"]: r for r in full["resources"]}["exec-0002"]
    assert (lingering["status"], lingering["targetStatus"]) == ("COMPLETED", "DELETED")
    assert "targetStatus" not in {r["id"]: r for r in trimmed["resources"]}["exec-0002"]
    assert (one["status"], one["targetStatus"]) == ("COMPLETED", "DELETED")
