"""The simulator applies the contract's status table, codes and bulk limits."""

from __future__ import annotations

import pytest

from aicore_bulk.testing import Simulator, SimulatorConfig, VirtualClock

STOPPABLE = {"PENDING", "RUNNING"}
DELETABLE = {
    "executions": {"STOPPED", "DEAD", "UNKNOWN", "COMPLETED"},
    "deployments": {"STOPPED", "DEAD", "UNKNOWN"},
}
STATUSES = ["PENDING", "RUNNING", "COMPLETED", "DEAD", "STOPPING", "STOPPED", "UNKNOWN"]
NOT_FOUND = {"executions": "01010020", "deployments": "01010016"}
CASES = [
    (kind, status, target)
    for kind in ("executions", "deployments")
    for status in STATUSES
    for target in ("STOPPED", "DELETED")
]


def allowed(kind: str, status: str, target: str) -> bool:
    return status in (STOPPABLE if target == "STOPPED" else DELETABLE[kind])


@pytest.mark.parametrize(("kind", "status", "target"), CASES)
async def test_bulk_change_follows_the_status_table(api, aicore_simulator, kind, status, target):
    """A bulk entry succeeds exactly when the contract's table allows it, else 01010076."""
    aicore_simulator.put(kind, "item-0001", status)

    code, body, _ = await api.bulk(kind, [{"id": "item-0001", "targetStatus": target}])

    assert code == 202
    (entry,) = body[kind]
    assert entry["id"] == "item-0001"
    state = aicore_simulator.state(kind, "item-0001")
    if allowed(kind, status, target):
        assert "error" not in entry
        assert entry["message"].endswith("modification scheduled")
        if target == "STOPPED":
            assert (state.status, state.target_status) == ("STOPPING", "STOPPED")
        else:
            assert state.deleted
            assert state.target_status == "DELETED"
    else:
        assert entry["error"]["code"] == "01010076"
        assert entry["error"]["message"] == f"Current status {status} cannot be changed"
        assert state.status == status
        assert not state.deleted


@pytest.mark.parametrize(("kind", "status", "target"), CASES)
async def test_single_change_follows_the_status_table(api, aicore_simulator, kind, status, target):
    """PATCH /{id} and DELETE /{id} answer 202, or 412 with 01010076 when the table says no."""
    aicore_simulator.put(kind, "item-0001", status)

    if target == "STOPPED":
        code, body, _ = await api.call(
            "PATCH", f"/lm/{kind}/item-0001", json={"targetStatus": "STOPPED"}
        )
    else:
        code, body, _ = await api.call("DELETE", f"/lm/{kind}/item-0001")

    if allowed(kind, status, target):
        assert code == 202
        assert body["id"] == "item-0001"
        if target == "DELETED":
            assert body == {
                "id": "item-0001",
                "message": "Deletion scheduled",
                "targetStatus": "DELETED",
            }
    else:
        assert code == 412
        assert body["error"]["code"] == "01010076"


@pytest.mark.parametrize(
    "aicore_simulator_config", [SimulatorConfig(conflict_status=400)], ids=["conflict-400"]
)
async def test_conflict_status_is_configurable(api, aicore_simulator):
    """The unverified wrong-state status of single calls can be switched to 400."""
    aicore_simulator.put("executions", "item-0001", "RUNNING")

    code, body, _ = await api.call("DELETE", "/lm/executions/item-0001")

    assert (code, body["error"]["code"]) == (400, "01010076")


@pytest.mark.parametrize("kind", ["executions", "deployments"])
async def test_unknown_ids_get_the_kinds_not_found_code(api, kind):
    """Unknown IDs are per-item 01010020 (executions) or 01010016 (deployments); 404 single."""
    code, body, _ = await api.bulk(kind, [{"id": "nope-0001", "targetStatus": "DELETED"}])
    single, single_body, _ = await api.call("DELETE", f"/lm/{kind}/nope-0001")
    got, got_body, _ = await api.call("GET", f"/lm/{kind}/nope-0001")

    assert code == 202
    assert body[kind][0]["error"]["code"] == NOT_FOUND[kind]
    assert (single, single_body["error"]["code"]) == (404, NOT_FOUND[kind])
    assert (got, got_body["error"]["code"]) == (404, NOT_FOUND[kind])


@pytest.mark.parametrize(
    "aicore_simulator_config", [SimulatorConfig(shuffle_answers=True, seed=3)], ids=["shuffled"]
)
async def test_answers_are_matched_by_id_and_may_be_shuffled(api, aicore_simulator):
    """With shuffling on, the 202 holds one entry per item in another order."""
    ids = aicore_simulator.seed("executions", 100, statuses={"COMPLETED": 1})

    code, body, _ = await api.bulk(
        "executions", [{"id": i, "targetStatus": "DELETED"} for i in ids]
    )

    answered = [entry["id"] for entry in body["executions"]]
    assert code == 202
    assert sorted(answered) == sorted(ids)
    assert answered != ids


@pytest.mark.parametrize(
    ("entries", "message", "rule"),
    [
        ([], "at least 1 item", "batch-empty"),
        (
            [{"id": f"item-{n:04d}", "targetStatus": "DELETED"} for n in range(101)],
            "at most 100",
            "batch-too-large",
        ),
        (
            [
                {"id": "item-0001", "targetStatus": "STOPPED"},
                {"id": "item-0001", "targetStatus": "DELETED"},
            ],
            "Duplicate id item-0001",
            "repeated-id",
        ),
    ],
    ids=["empty", "101-items", "repeated-id"],
)
async def test_bulk_limits_are_request_level_400s(api, aicore_simulator, entries, message, rule):
    """An empty list, over 100 items or a repeated ID refuse the whole request with 400."""
    aicore_simulator.put("executions", "item-0001", "RUNNING")

    code, body, _ = await api.bulk("executions", entries)

    assert code == 400
    assert message in body["error"]["message"]
    assert aicore_simulator.state("executions", "item-0001").status == "RUNNING"
    assert [v.rule for v in aicore_simulator.statistics().violations] == [rule]


async def test_exactly_100_items_are_accepted(api, aicore_simulator):
    """100 items is the limit, not beyond it."""
    ids = aicore_simulator.seed("executions", 100, statuses={"DEAD": 1})

    code, body, _ = await api.bulk(
        "executions", [{"id": i, "targetStatus": "DELETED"} for i in ids]
    )

    assert code == 202
    assert len(body["executions"]) == 100
    assert aicore_simulator.statistics().bulk_sizes == {100: 1}


async def test_stop_and_delete_of_different_ids_mix_in_one_request(api, aicore_simulator):
    """STOP and DELETE entries of different IDs may share a request."""
    aicore_simulator.put("executions", "run-0001", "RUNNING")
    aicore_simulator.put("executions", "done-0001", "COMPLETED")

    code, body, _ = await api.bulk(
        "executions",
        [
            {"id": "run-0001", "targetStatus": "STOPPED"},
            {"id": "done-0001", "targetStatus": "DELETED"},
        ],
    )

    assert code == 202
    assert all("error" not in entry for entry in body["executions"])
    assert aicore_simulator.state("executions", "run-0001").status == "STOPPING"
    assert aicore_simulator.state("executions", "done-0001").deleted


async def test_stopping_becomes_stopped_after_the_stop_delay(api, aicore_simulator, aicore_clock):
    """A stopped item is STOPPING for stop_delay seconds, then STOPPED and deletable."""
    aicore_simulator.put("executions", "run-0001", "RUNNING")
    await api.bulk("executions", [{"id": "run-0001", "targetStatus": "STOPPED"}])

    aicore_clock.advance(4.9)
    _, early, _ = await api.call("GET", "/lm/executions/run-0001")
    refused, _, _ = await api.call("DELETE", "/lm/executions/run-0001")
    aicore_clock.advance(0.1)
    _, late, _ = await api.call("GET", "/lm/executions/run-0001")
    accepted, _, _ = await api.call("DELETE", "/lm/executions/run-0001")

    assert (early["status"], early["targetStatus"]) == ("STOPPING", "STOPPED")
    assert refused == 412
    assert late["status"] == "STOPPED"
    assert accepted == 202


async def test_deleted_items_linger_then_disappear(api, aicore_simulator, aicore_clock):
    """A deleted item is listed with targetStatus DELETED for the linger, then 404."""
    aicore_simulator.put("executions", "done-0001", "COMPLETED")
    await api.call("DELETE", "/lm/executions/done-0001")

    _, lingering, _ = await api.call("GET", "/lm/executions/done-0001")
    again, again_body, _ = await api.call("DELETE", "/lm/executions/done-0001")
    aicore_clock.advance(60)
    gone, _, _ = await api.call("GET", "/lm/executions/done-0001")
    _, listing, _ = await api.call("GET", "/lm/executions")

    assert lingering["targetStatus"] == "DELETED"
    assert (again, again_body["error"]["code"]) == (404, "01010020")
    assert gone == 404
    assert listing == {"count": 0, "resources": []}


@pytest.mark.parametrize(
    ("change_to", "expected"),
    [("COMPLETED", "COMPLETED"), ("DEAD", "DEAD"), ("STOPPING", "STOPPING")],
)
async def test_running_items_change_by_themselves(
    api, aicore_simulator, aicore_clock, change_to, expected
):
    """A running item can complete, die or be stopped by somebody else at a set time."""
    start = aicore_clock.now
    aicore_simulator.put(
        "executions", "run-0001", "RUNNING", change_at=start + 10, change_to=change_to
    )

    _, before, _ = await api.call("GET", "/lm/executions/run-0001")
    aicore_clock.advance(10)
    _, after, _ = await api.call("GET", "/lm/executions/run-0001")

    assert before["status"] == "RUNNING"
    assert after["status"] == expected


async def test_a_stop_cancels_a_pending_change(api, aicore_simulator, aicore_clock):
    """Once stopped, an item no longer completes by itself."""
    aicore_simulator.put(
        "executions", "run-0001", "RUNNING", change_at=aicore_clock.now + 10, change_to="COMPLETED"
    )
    await api.bulk("executions", [{"id": "run-0001", "targetStatus": "STOPPED"}])

    aicore_clock.advance(10)

    assert aicore_simulator.state("executions", "run-0001").status == "STOPPED"


async def test_a_change_the_client_was_told_is_forbidden_is_a_violation(api, aicore_simulator):
    """Deleting an item last shown RUNNING is recorded as the client's violation."""
    aicore_simulator.put("executions", "run-0001", "RUNNING")
    await api.call("GET", "/lm/executions/run-0001", params={"$select": "status"})

    await api.bulk("executions", [{"id": "run-0001", "targetStatus": "DELETED"}])

    stats = aicore_simulator.statistics()
    assert [v.rule for v in stats.violations] == ["refused-transition"]
    assert "last seen RUNNING" in stats.violations[0].detail
    assert stats.refused == 0


async def test_a_refusal_after_an_unseen_change_is_a_race_not_a_violation(
    api, aicore_simulator, aicore_clock
):
    """A stop refused because the item completed after the client looked counts as a race."""
    aicore_simulator.put(
        "executions", "run-0001", "RUNNING", change_at=aicore_clock.now + 1, change_to="COMPLETED"
    )
    await api.call("GET", "/lm/executions/run-0001")
    aicore_clock.advance(1)

    _, body, _ = await api.bulk("executions", [{"id": "run-0001", "targetStatus": "STOPPED"}])

    stats = aicore_simulator.statistics()
    assert body["executions"][0]["error"]["code"] == "01010076"
    assert stats.violation_count == 0
    assert stats.refused == 1


async def test_wrong_content_type_is_a_violation_but_served(api, aicore_simulator):
    """A bulk PATCH sent as application/json is served and recorded as a violation."""
    aicore_simulator.put("executions", "done-0001", "COMPLETED")

    code, _, _ = await api.call(
        "PATCH",
        "/lm/executions",
        json={"executions": [{"id": "done-0001", "targetStatus": "DELETED"}]},
    )

    assert code == 202
    assert [v.rule for v in aicore_simulator.statistics().violations] == ["wrong-content-type"]


@pytest.mark.parametrize("kind", ["executions", "deployments"])
async def test_resource_groups_are_isolated(api, aicore_simulator, kind):
    """Items of one resource group are invisible, and untouchable, from another."""
    aicore_simulator.put(kind, "item-0001", "DEAD", resource_group="team-a")

    listed, listing, _ = await api.call("GET", f"/lm/{kind}", resource_group="team-b")
    _, body, _ = await api.bulk(
        kind, [{"id": "item-0001", "targetStatus": "DELETED"}], resource_group="team-b"
    )

    assert (listed, listing["count"]) == (200, 0)
    assert body[kind][0]["error"]["code"] == NOT_FOUND[kind]
    assert not aicore_simulator.state(kind, "item-0001", "team-a").deleted


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/lm/executions"),
        ("GET", "/lm/executions/$count"),
        ("GET", "/lm/executions/x-0001"),
        ("PATCH", "/lm/deployments"),
        ("DELETE", "/lm/deployments/x-0001"),
    ],
)
async def test_a_missing_resource_group_is_a_400_and_a_violation(
    api, aicore_simulator, method, path
):
    """Every executions/deployments call needs AI-Resource-Group."""
    code, body, _ = await api.call(method, path, resource_group=None)

    assert code == 400
    assert "AI-Resource-Group" in body["error"]["message"]
    assert [v.rule for v in aicore_simulator.statistics().violations] == ["missing-resource-group"]


async def test_deployments_accept_a_configuration_change_only_while_running(api, aicore_simulator):
    """PATCH of a deployment's configurationId works for RUNNING and is refused for STOPPED."""
    aicore_simulator.put("deployments", "dep-0001", "RUNNING")
    aicore_simulator.put("deployments", "dep-0002", "STOPPED")

    ok, _, _ = await api.call(
        "PATCH", "/lm/deployments/dep-0001", json={"configurationId": "cfg-new1"}
    )
    refused, body, _ = await api.call(
        "PATCH", "/lm/deployments/dep-0002", json={"configurationId": "cfg-new1"}
    )
    _, dep, _ = await api.call("GET", "/lm/deployments/dep-0001")

    assert ok == 202
    assert dep["configurationId"] == "cfg-new1"
    assert (refused, body["error"]["code"]) == (412, "01010076")


def test_put_rejects_ids_and_statuses_outside_the_contract():
    """Hand-made items must follow the ID pattern and the status enum."""
    sim = Simulator(clock=VirtualClock())
    with pytest.raises(ValueError, match="ID pattern"):
        sim.put("executions", "x", "RUNNING")
    with pytest.raises(ValueError, match="unknown status"):
        sim.put("executions", "item-0001", "DELETING")
