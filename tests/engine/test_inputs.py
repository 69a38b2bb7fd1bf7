"""Bad input gets a typed error naming the problem, before anything is sent."""

from __future__ import annotations

import pytest

from aicore_bulk import (
    AuthenticationError,
    BulkClient,
    ConfigurationError,
    InputError,
    Limits,
    RetryPolicy,
    RunOptions,
)

SECRET = "s3cr3t-do-not-print"


@pytest.mark.parametrize(
    ("ids", "message"),
    [
        (["good-0001", ""], "ID #2 '' is not a valid AI Core ID"),
        (["bad id with spaces"], "ID #1 'bad id with spaces'"),
        (["abc"], "ID #1 'abc'"),
        (["x" * 65], "is not a valid AI Core ID"),
        (["ok-0001", 42], "ID #2 is of type int, not a string"),
        (["ok-0001", None], "ID #2 is of type NoneType"),
        ("e0123456789", "not a single string"),
    ],
    ids=["empty", "spaces", "too-short", "too-long", "number", "none", "bare-string"],
)
async def test_malformed_ids_are_refused_before_sending(client, aicore_simulator, ids, message):
    """A malformed ID raises InputError (a ValueError) naming it; not one request goes out."""
    with pytest.raises(InputError, match=message) as caught:
        await client.delete("executions", ids)

    assert isinstance(caught.value, ValueError)
    assert aicore_simulator.statistics().total_requests == 0


@pytest.mark.parametrize("kind", ["execution", "Executions", "models", ""])
async def test_unknown_kinds_are_refused(client, aicore_simulator, kind):
    """Only 'executions' and 'deployments' are kinds."""
    with pytest.raises(InputError, match="unknown kind"):
        await client.stop(kind, ["good-0001"])
    assert aicore_simulator.statistics().total_requests == 0


async def test_unknown_targets_are_refused(client, aicore_simulator):
    """A dry run's target is DELETED or STOPPED."""
    with pytest.raises(InputError, match="unknown target 'GONE'"):
        await client.plan("executions", ["good-0001"], target="GONE")
    assert aicore_simulator.statistics().total_requests == 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"resource_group": None}, "no resource group"),
        ({"resource_group": "has space"}, "resource_group contains whitespace"),
        ({"client_secret": None}, "AICORE_CLIENT_SECRET"),
        ({"base_url": None}, "AICORE_BASE_URL"),
        ({"base_url": "ftp://example.com"}, "http"),
        ({"base_url": "http://api.example.com"}, "allow_insecure_http=True"),
    ],
    ids=["no-group", "bad-group", "no-secret", "no-url", "bad-scheme", "plain-http"],
)
def test_missing_or_bad_settings_are_configuration_errors(make_client, options, message):
    """Missing settings or a plain-http remote URL fail when the client is built."""
    with pytest.raises(ConfigurationError, match=message):
        make_client(**options)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"page_size": 0}, "page_size"),
        ({"page_size": 100_001}, "page_size"),
        ({"stop_wait": -1}, "stop_wait"),
        ({"stop_wait": float("inf")}, "stop_wait must be a finite number"),
        ({"poll_interval": float("nan")}, "poll_interval"),
        ({"page_size": 1.5}, "page_size must be a whole number"),
        ({"grace": -1}, "grace"),
        ({"batch_wait": -1}, "batch_wait"),
    ],
    ids=[
        "page-0",
        "page-too-big",
        "negative-wait",
        "endless-wait",
        "nan-poll",
        "half-page",
        "grace",
        "batch-wait",
    ],
)
def test_bad_run_options_are_input_errors(options, message):
    """Out-of-range run options are refused when they are built, before any client."""
    with pytest.raises(InputError, match=message):
        RunOptions(**options)


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: Limits(concurrency=0), "concurrency"),
        (lambda: Limits(rate=0), "rate"),
        (lambda: RetryPolicy(attempts=0), "attempts"),
        (lambda: Limits(concurrency="8"), "concurrency must be a whole number"),
        (lambda: Limits(concurrency=True), "concurrency must be a whole number"),
        (
            lambda: RetryPolicy(request_timeout=float("inf")),
            "request_timeout must be a finite number",
        ),
        (lambda: RetryPolicy(wait_jitter=-1), "wait_jitter must be a finite number >= 0"),
    ],
    ids=["concurrency", "rate", "attempts", "text", "bool", "endless-timeout", "jitter"],
)
def test_limits_and_retry_policy_are_validated(factory, message):
    """Limits and RetryPolicy refuse nonsense values, with errors ``except BulkError`` catches."""
    with pytest.raises(InputError, match=message):
        factory()


async def test_a_refused_secret_fails_fast_without_touching_the_api(make_client, aicore_simulator):
    """A 401 from the token endpoint is an AuthenticationError; no API call is made."""
    async with make_client(client_secret=SECRET) as client:
        with pytest.raises(AuthenticationError, match="refused the credentials") as caught:
            await client.delete("executions", ["good-0001"])

    assert caught.value.status == 401
    assert SECRET not in str(caught.value)
    assert dict(aicore_simulator.statistics().requests) == {"token": 1}


async def test_secrets_stay_out_of_reprs(make_client):
    """Neither the client secret nor a token appears in the client's repr."""
    async with make_client(client_secret=SECRET) as client:
        assert SECRET not in repr(client)
        assert SECRET not in repr(client._connection)


async def test_a_static_bearer_token_is_used_as_given(aicore_server, aicore_simulator):
    """A static token works, and a refused one is an AuthenticationError naming no token."""
    async with BulkClient(
        base_url=aicore_server.base_url, resource_group="default", token=SECRET
    ) as client:
        with pytest.raises(AuthenticationError, match="refused") as caught:
            await client.delete("executions", ["good-0001"])

    assert SECRET not in str(caught.value)
    assert SECRET not in repr(client)


def test_constructor_errors_do_not_echo_secrets(make_client):
    """A configuration error never includes the secret it was given."""
    with pytest.raises(ConfigurationError) as caught:
        make_client(client_secret=SECRET, resource_group=None)

    assert SECRET not in str(caught.value)


@pytest.mark.parametrize("deadline", [-1, 0, float("nan")])
async def test_a_bad_deadline_is_refused_before_sending(client, aicore_simulator, deadline):
    ids = aicore_simulator.seed("executions", 3, statuses={"DEAD": 1})
    with pytest.raises(InputError, match="deadline must be a finite number > 0"):
        await client.delete("executions", ids, deadline=deadline)
    assert aicore_simulator.statistics().total_requests == 0


async def test_select_refuses_what_is_not_a_selection(client, aicore_simulator):
    with pytest.raises(InputError, match="selection must be a Selection, not str"):
        [i async for i in client.select("executions", "DEAD")]
    assert aicore_simulator.statistics().total_requests == 0
