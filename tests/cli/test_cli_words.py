"""The command line speaks of its flags, the library of its Python arguments."""

from __future__ import annotations

import re

import pytest

from aicore_bulk import BulkClient, InputError, Limits, Selection
from aicore_bulk._cli._words import cli_words
from tests.cli.test_cli import cli, server, sim  # noqa: F401 - fixtures, requested by name

#: A Python name of the library's: an argument that a flag sets, or a keyword argument.
_PYTHON_WORD = re.compile(
    r"(?<![\w/.$-])(resource_group|base_url|concurrency|scenario_id|profile=|allow_insecure_http)"
)


@pytest.mark.parametrize(
    ("args", "env", "error"),
    [
        (
            ["delete", "executions", "e-0001", "--resource-group", "my group"],
            {},
            "--resource-group contains whitespace",
        ),
        (
            ["delete", "executions", "e-0001", "--concurrency", "1000"],
            {},
            "--concurrency must be a whole number between 1 and 256, got 1000",
        ),
        (
            ["delete", "executions", "e-0001", "--base-url", "http://api.example.com"],
            {},
            "--base-url uses plain http:// for api.example.com, which sends credentials "
            "unencrypted: use https:// or pass --allow-insecure-http",
        ),
        (
            ["plan", "delete", "executions", "--scenario-id", "my scenario"],
            {},
            "--scenario-id 'my scenario' is not a valid AI Core ID",
        ),
        (
            ["delete", "executions", "e-0001", "--profile", "staging"],
            {},
            "config file ~/.aicore/config_staging.json (named by --profile 'staging') "
            "does not exist",
        ),
        (
            ["delete", "executions", "e-0001"],
            {"AICORE_RESOURCE_GROUP": None},
            "incomplete AI Core settings: no resource group: pass --resource-group, set "
            "AICORE_RESOURCE_GROUP or add it to the config file. Looked in: options, "
            "environment,",
        ),
    ],
    ids=["group", "concurrency", "plain-http", "scenario", "profile", "no-group"],
)
def test_errors_of_the_command_line_name_its_flags(cli, sim, args, env, error):  # noqa: F811
    """A library error the command prints names the flag, never the Python argument."""
    result = cli(*args, "--no-progress", env=env)

    (line,) = result.stderr.splitlines()
    assert result.returncode == 2
    assert line.startswith(f"aicore-bulk: error: {error}")
    assert not _PYTHON_WORD.search(line)
    assert sim.statistics().total_requests == 0


@pytest.mark.parametrize(
    ("build", "error"),
    [
        (lambda: Limits(concurrency=1000), "concurrency must be a whole number"),
        (lambda: Selection(scenario_id="my scenario"), "scenario_id 'my scenario' is not"),
        (
            lambda: BulkClient(
                base_url="http://api.example.com", resource_group="default", token="t"
            ),
            "use https:// or pass allow_insecure_http=True",
        ),
        (
            lambda: BulkClient(base_url="https://api.example.com", resource_group="a b", token="t"),
            "resource_group contains whitespace",
        ),
    ],
    ids=["concurrency", "scenario", "plain-http", "group"],
)
def test_errors_of_the_library_name_its_python_arguments(build, error):
    """The same mistakes made in Python name the Python argument, never a flag."""
    with pytest.raises(InputError) as caught:
        build()

    assert error in str(caught.value)
    assert "--" not in str(caught.value)


@pytest.mark.parametrize(
    "message",
    [
        "rate limit exceeded, try again",
        "the deadline passed before the run began",
        "counting executions failed: HTTP 400: bad $select=status",
        "AICORE_RESOURCE_GROUP contains whitespace",
        "config file ~/.aicore/config_staging.json is not valid JSON",
    ],
)
def test_other_words_are_left_as_they_are(message):
    """Only Python names that open a message or stand as keyword arguments are translated."""
    assert cli_words(message) == message
