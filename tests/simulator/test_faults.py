"""Each fault knob does what it says, deterministically for a seed."""

from __future__ import annotations

import email.utils

import aiohttp
import pytest

from aicore_bulk.testing import Faults, Simulator, SimulatorConfig


def faulty(**knobs):
    return SimulatorConfig(faults=Faults(**knobs))


@pytest.mark.parametrize(
    "aicore_simulator_config", [faulty(latency=0.1, latency_jitter=0.05)], ids=["latency"]
)
async def test_latency_holds_every_api_request(api, aicore_clock):
    """Each API request waits latency plus up to latency_jitter (on the simulator's clock)."""
    took = []
    for _ in range(20):
        before = aicore_clock.now
        await api.call("GET", "/lm/executions")
        took.append(aicore_clock.now - before)

    assert all(0.1 <= s <= 0.15 for s in took)
    assert len(set(took)) > 1


@pytest.mark.parametrize(
    "aicore_simulator_config", [faulty(rate_limit=1.0, rate_burst=2)], ids=["1-per-s"]
)
async def test_rate_limit_answers_429_with_retry_after(api, aicore_simulator, aicore_clock):
    """Beyond the bucket, 429 with whole-second Retry-After; tokens refill with time."""
    statuses = [(await api.call("GET", "/lm/executions"))[0] for _ in range(3)]
    _, body, response = await api.call("GET", "/lm/executions")
    aicore_clock.advance(1.0)
    refilled, _, _ = await api.call("GET", "/lm/executions")

    assert statuses == [200, 200, 429]
    assert response.headers["Retry-After"] == "1"
    assert body["error"]["code"]
    assert refilled == 200
    stats = aicore_simulator.statistics()
    assert stats.throttled == 2
    assert stats.faults["rate-limit"] == 2


@pytest.mark.parametrize(
    "aicore_simulator_config",
    [faulty(rate_limit=0.5, rate_burst=1, retry_after="http-date")],
    ids=["http-date"],
)
async def test_retry_after_can_be_an_http_date(api, aicore_clock):
    """Retry-After can be an HTTP date, as far ahead as the wait."""
    await api.call("GET", "/lm/executions")
    code, _, response = await api.call("GET", "/lm/executions")

    when = email.utils.parsedate_to_datetime(response.headers["Retry-After"]).timestamp()
    assert code == 429
    assert when == pytest.approx(aicore_clock.now + 2, abs=1)


@pytest.mark.parametrize(
    "aicore_simulator_config",
    [faulty(throttle_burst_every=10.0, throttle_burst_length=2.0)],
    ids=["bursts"],
)
async def test_throttle_bursts_follow_their_schedule(api, aicore_clock):
    """Every request in a burst window gets 429 with the rest of the window as Retry-After."""
    first, _, response = await api.call("GET", "/lm/executions")
    aicore_clock.advance(2.0)
    between, _, _ = await api.call("GET", "/lm/executions")
    aicore_clock.advance(8.0)
    next_burst, _, _ = await api.call("GET", "/lm/executions")

    assert (first, between, next_burst) == (429, 200, 429)
    assert response.headers["Retry-After"] == "2"


@pytest.mark.parametrize("aicore_simulator_config", [faulty(server_errors=1.0)], ids=["5xx"])
async def test_server_errors_are_5xx_without_retry_after(api, aicore_simulator):
    """server_errors answers 500, 502, 503 or 504 with the error body and no Retry-After."""
    seen = set()
    for _ in range(30):
        code, body, response = await api.call("GET", "/lm/executions")
        seen.add(code)
        assert "Retry-After" not in response.headers
        assert body["error"]["message"]

    assert seen == {500, 502, 503, 504}
    assert aicore_simulator.statistics().faults["server-error"] == 30


@pytest.mark.parametrize(
    "aicore_simulator_config", [faulty(unavailable=1.0, unavailable_retry_after=3)], ids=["503"]
)
async def test_unavailable_is_503_with_retry_after(api):
    """The unavailable knob answers 503 with Retry-After."""
    code, _, response = await api.call("GET", "/lm/executions")

    assert (code, response.headers["Retry-After"]) == (503, "3")


async def test_faults_never_touch_the_token_endpoint(aicore_clock):
    """A fully faulty API still hands out tokens."""
    from aicore_bulk.testing import serve  # noqa: PLC0415

    sim = Simulator(faulty(server_errors=1.0, rate_limit=0.001, rate_burst=1), clock=aicore_clock)
    async with serve(sim) as server, aiohttp.ClientSession() as session:
        creds = server.credentials
        for _ in range(3):
            async with session.post(
                server.token_url,
                data={
                    "grant_type": "client_credentials",
                    "client_id": creds.client_id,
                    "client_secret": creds.client_secret,
                },
            ) as response:
                assert response.status == 200


@pytest.mark.parametrize(
    "aicore_simulator_config", [faulty(dropped_connections=1.0)], ids=["drops"]
)
async def test_dropped_connections_happen_before_or_after_the_change(api, aicore_simulator):
    """A dropped request gets no answer; about half of them were applied anyway."""
    ids = aicore_simulator.seed("executions", 40, statuses={"COMPLETED": 1})
    for item_id in ids:
        with pytest.raises(aiohttp.ClientConnectionError):
            await api.bulk("executions", [{"id": item_id, "targetStatus": "DELETED"}])

    faults = aicore_simulator.statistics().faults
    deleted = sum(aicore_simulator.state("executions", i).deleted for i in ids)
    assert faults["drop-before"] + faults["drop-after"] == 40
    assert deleted == faults["drop-after"]
    assert 0 < deleted < 40


@pytest.mark.parametrize(
    ("aicore_simulator_config", "fault"),
    [(faulty(truncated_bodies=1.0), "truncated"), (faulty(malformed_bodies=1.0), "malformed")],
    ids=["truncated", "malformed"],
)
async def test_spoiled_202_bodies_still_apply_the_change(api, aicore_simulator, fault):
    """A 202 whose body is cut short or is not JSON still means the change happened."""
    aicore_simulator.put("executions", "done-0001", "COMPLETED")

    code, body, _ = await api.bulk("executions", [{"id": "done-0001", "targetStatus": "DELETED"}])
    listed, _, _ = await api.call("GET", "/lm/executions")

    assert code == 202
    assert isinstance(body, str)  # not parseable as JSON
    assert aicore_simulator.state("executions", "done-0001").deleted
    assert listed == 200  # only accepted changes are spoiled
    assert aicore_simulator.statistics().faults[fault] == 1


async def test_fault_decisions_are_deterministic_for_a_seed(aicore_clock):
    """Two simulators with the same seed fault the same requests."""
    from aicore_bulk.testing import serve  # noqa: PLC0415

    async def run(seed):
        sim = Simulator(
            SimulatorConfig(seed=seed, faults=Faults(server_errors=0.3, unavailable=0.1)),
            clock=aicore_clock,
        )
        async with serve(sim) as server, aiohttp.ClientSession() as session:
            creds = server.credentials
            async with session.post(
                server.token_url,
                data={
                    "grant_type": "client_credentials",
                    "client_id": creds.client_id,
                    "client_secret": creds.client_secret,
                },
            ) as response:
                token = (await response.json())["access_token"]
            codes = []
            for _ in range(40):
                async with session.get(
                    f"{server.base_url}/lm/executions",
                    headers={"Authorization": f"Bearer {token}", "AI-Resource-Group": "g1"},
                ) as response:
                    codes.append(response.status)
            return codes

    first, again, other = await run(7), await run(7), await run(8)

    assert first == again
    assert first != other
    assert {200, 503} <= set(first)


async def test_faults_can_be_switched_at_runtime(api, aicore_simulator):
    """set_faults changes the knobs from the next request on."""
    aicore_simulator.set_faults(Faults(unavailable=1.0))
    faulted, _, _ = await api.call("GET", "/lm/executions")
    aicore_simulator.set_faults(Faults())
    healthy, _, _ = await api.call("GET", "/lm/executions")

    assert (faulted, healthy) == (503, 200)


@pytest.mark.parametrize(
    "knobs",
    [
        {"server_errors": 1.5},
        {"latency": -1},
        {"rate_limit": 0},
        {"rate_burst": 0},
        {"retry_after": "minutes"},
    ],
    ids=["rate-over-1", "negative-latency", "zero-rate-limit", "zero-burst", "retry-after-form"],
)
def test_fault_knobs_are_validated(knobs):
    """Out-of-range knobs are refused when the config is built."""
    with pytest.raises(ValueError):  # noqa: PT011 - attrs' messages vary by validator
        Faults(**knobs)
