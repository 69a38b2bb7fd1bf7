"""Bad requests get a 400 with the AI API error body: never a 500, never a hang."""

from __future__ import annotations

import json

import pytest

from aicore_bulk.testing import SimulatorConfig

BULK = "application/merge-patch+json"


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"\xff\xfe",
        json.dumps([1, 2]).encode(),
        json.dumps({"executions": "all"}).encode(),
        json.dumps({"executions": [17]}).encode(),
        json.dumps({"executions": [{"id": 17, "targetStatus": "DELETED"}]}).encode(),
        json.dumps({"executions": [{"id": "ab", "targetStatus": "DELETED"}]}).encode(),
        json.dumps({"executions": [{"id": "item-0001", "targetStatus": "RUNNING"}]}).encode(),
        json.dumps({"executions": [{"id": "item-0001"}]}).encode(),
        json.dumps(
            {"executions": [{"id": "item-0001", "targetStatus": "DELETED", "force": True}]}
        ).encode(),
        json.dumps({"executions": [], "dryRun": True}).encode(),
        json.dumps({"deployments": [{"id": "item-0001", "targetStatus": "DELETED"}]}).encode(),
        b"",
    ],
    ids=[
        "not-json",
        "not-utf8",
        "list-body",
        "string-list",
        "number-item",
        "number-id",
        "short-id",
        "bad-target",
        "missing-target",
        "unknown-item-field",
        "unknown-top-field",
        "wrong-kind-key",
        "empty-body",
    ],
)
async def test_malformed_bulk_bodies_are_400s(api, aicore_simulator, body):
    """Every malformed bulk body gets a 400 error body and changes nothing."""
    aicore_simulator.put("executions", "item-0001", "COMPLETED")

    code, answer, _ = await api.call("PATCH", "/lm/executions", data=body, content_type=BULK)

    assert code == 400
    assert set(answer["error"]) >= {"code", "message"}
    assert not aicore_simulator.state("executions", "item-0001").deleted
    assert aicore_simulator.statistics().violation_count == 1


@pytest.mark.parametrize(
    "body",
    [
        {},
        [],
        {"targetStatus": "DELETED"},
        {"targetStatus": "STOPPED", "force": True},
        {"configurationId": "cfg-1"},
    ],
    ids=["empty", "list", "delete-target", "unknown-field", "execution-configuration"],
)
async def test_malformed_single_patches_are_400s(api, aicore_simulator, body):
    """A single PATCH takes exactly {"targetStatus": "STOPPED"} for executions."""
    aicore_simulator.put("executions", "item-0001", "RUNNING")

    code, answer, _ = await api.call("PATCH", "/lm/executions/item-0001", json=body)

    assert code == 400
    assert answer["error"]["code"]
    assert aicore_simulator.state("executions", "item-0001").status == "RUNNING"


@pytest.mark.parametrize(
    "aicore_simulator_config", [SimulatorConfig(max_body_bytes=4096)], ids=["4KiB-cap"]
)
async def test_bodies_over_the_size_cap_are_400s(api):
    """A body over the cap is refused with a 400 error body, not a 413 or a hang."""
    entries = [{"id": f"item-{n:06d}", "targetStatus": "DELETED"} for n in range(100)]
    padding = {"executions": entries, "pad": "x" * 10_000}

    code, answer, _ = await api.call(
        "PATCH", "/lm/executions", data=json.dumps(padding).encode(), content_type=BULK
    )

    assert code == 400
    assert "larger than 4096 bytes" in answer["error"]["message"]


async def test_unknown_paths_get_the_error_body(api):
    """A path outside the API gets a 404 with the AI API error body."""
    code, answer, _ = await api.call("GET", "/lm/artifacts")

    assert code == 404
    assert answer["error"]["code"]


async def test_wrong_methods_get_the_error_body(api):
    """A method the path does not take gets a 405 with the AI API error body."""
    code, answer, _ = await api.call("POST", "/lm/executions/item-0001", json={})

    assert code == 405
    assert answer["error"]["message"]
