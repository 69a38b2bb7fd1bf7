"""The token endpoint, bearer checks and ``/v2/lm/meta``."""

from __future__ import annotations

import base64

import pytest

from aicore_bulk.testing import SimulatorConfig


async def test_token_from_form_credentials(api):
    """Client credentials in the form body get a bearer token with its lifetime."""
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

    assert response.status == 200
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    assert body["access_token"]


async def test_token_from_basic_auth(api):
    """HTTP Basic with id:secret works as well as the form body."""
    creds = api.server.credentials
    async with api.session.post(
        api.server.token_url,
        data={"grant_type": "client_credentials"},
        headers={
            "Authorization": "Basic "
            + base64.b64encode(f"{creds.client_id}:{creds.client_secret}".encode()).decode()
        },
    ) as response:
        assert response.status == 200
        assert (await response.json())["access_token"]


@pytest.mark.parametrize(
    "form",
    [
        {
            "grant_type": "client_credentials",
            "client_id": "aicore-bulk-simulator",
            "client_secret": "wrong",
        },
        {
            "grant_type": "client_credentials",
            "client_id": "someone-else",
            "client_secret": "simulator-secret",
        },
        {"grant_type": "client_credentials"},
    ],
    ids=["wrong-secret", "wrong-id", "no-credentials"],
)
async def test_bad_credentials_get_401(api, form):
    """The token endpoint refuses unknown credentials with 401."""
    async with api.session.post(api.server.token_url, data=form) as response:
        assert response.status == 401
        assert (await response.json())["error"] == "unauthorized"


async def test_only_client_credentials_grant(api):
    """Other grant types are a 400."""
    async with api.session.post(api.server.token_url, data={"grant_type": "password"}) as response:
        assert response.status == 400


@pytest.mark.parametrize("token", [None, "not-a-token"], ids=["missing", "unknown"])
async def test_api_calls_need_a_valid_bearer(api, token):
    """A missing or unknown token gets 401 with a WWW-Authenticate challenge."""
    api.token = token

    code, body, response = await api.call("GET", "/lm/executions")

    assert code == 401
    assert body["error"] == "invalid_token"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "aicore_simulator_config", [SimulatorConfig(token_lifetime=20)], ids=["20s-tokens"]
)
async def test_tokens_expire_after_their_lifetime(api, aicore_clock):
    """A token is good for token_lifetime seconds, then 401."""
    aicore_clock.advance(19.9)
    before, _, _ = await api.call("GET", "/lm/executions")
    aicore_clock.advance(0.1)
    after, _, _ = await api.call("GET", "/lm/executions")

    assert (before, after) == (200, 401)


@pytest.mark.parametrize("aicore_simulator_config", [SimulatorConfig(auth=False)], ids=["no-auth"])
async def test_auth_can_be_switched_off(api):
    """With auth off, API calls need no token and any credentials get one."""
    api.token = None

    code, _, _ = await api.call("GET", "/lm/executions")
    async with api.session.post(
        api.server.token_url,
        data={
            "grant_type": "client_credentials",
            "client_id": "x",
            "client_secret": "y",
        },
    ) as response:
        token_status = response.status

    assert (code, token_status) == (200, 200)


async def test_meta_announces_bulk_updates(api):
    """By default both kinds support bulk updates; meta needs no resource group."""
    code, body, _ = await api.call("GET", "/lm/meta", resource_group=None)

    assert code == 200
    assert body["aiApi"]["version"]
    assert body["aiApi"]["capabilities"]["bulkUpdates"] == {"executions": True, "deployments": True}


@pytest.mark.parametrize(
    ("aicore_simulator_config", "expected"),
    [
        (SimulatorConfig(bulk_deployments=False), {"executions": True}),
        (SimulatorConfig(bulk_executions=False), {"deployments": True}),
        (SimulatorConfig(bulk_executions=False, bulk_deployments=False), None),
    ],
    ids=["deployments-off", "executions-off", "both-off"],
)
async def test_meta_leaves_out_switched_off_bulk_updates(api, expected):
    """A kind without bulk updates is absent from meta; with none, bulkUpdates is absent."""
    _, body, _ = await api.call("GET", "/lm/meta")

    assert body["aiApi"]["capabilities"].get("bulkUpdates") == expected


@pytest.mark.parametrize(
    "aicore_simulator_config", [SimulatorConfig(bulk_executions=False)], ids=["executions-off"]
)
async def test_bulk_patch_when_switched_off_is_refused(api, aicore_simulator):
    """A bulk PATCH of a kind whose bulk updates are off gets 404 and is a violation."""
    aicore_simulator.put("executions", "done-0001", "COMPLETED")

    code, body, _ = await api.bulk("executions", [{"id": "done-0001", "targetStatus": "DELETED"}])
    single, _, _ = await api.call("DELETE", "/lm/executions/done-0001")

    assert code == 404
    assert "not enabled" in body["error"]["message"]
    assert single == 202
    assert [v.rule for v in aicore_simulator.statistics().violations] == ["bulk-disabled"]
