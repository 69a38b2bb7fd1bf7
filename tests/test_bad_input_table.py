"""Every row of docs/bad-input.md, run: the documented error is exactly what the user gets.

The page is the source of truth. A row's first cell is its ID; its last cell holds the
output as code spans: ``exit N`` and the stderr lines for the command line, ``Type: message``
for a raised error, or the JSON of one report item. Each ID has exactly one case here, which
returns the same spans; a row without a case, a case without a row, or one character of
difference fails.

Command-line cases call ``main()`` in-process (what ``python -m aicore_bulk`` runs) against
the simulator served on loopback: starting a process per row would cost more than all the
rows together. Server-side cases script each answer with ``MockTransport``.
"""

from __future__ import annotations

import functools
import inspect
import io
import json
import logging
import os
import re
import socket
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import attrs
import pytest

from aicore_bulk import (
    BulkClient,
    Limits,
    MockTransport,
    Report,
    Request,
    Response,
    RetryPolicy,
    RunOptions,
    Selection,
    TransportError,
)
from aicore_bulk._cli import main
from aicore_bulk.testing import Simulator, SimulatorConfig, VirtualClock, serve_in_thread
from tests.engine.conftest import make_client  # noqa: F401 - a fixture, requested by name
from tests.test_config import ENV, service_key, write_json
from tests.test_wire import BASE, Recorder

DOC = Path(__file__).parent.parent / "docs" / "bad-input.md"
_ROW = re.compile(r"^\| (?P<id>[A-Z]\d+) \| (?P<input>.+?) \| (?P<got>`.*`) \|$")
_SPAN = re.compile(r"`([^`]*)`")


def documented() -> dict[str, list[str]]:
    """Each row's ID and the code spans of its last cell."""
    rows: dict[str, list[str]] = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        match = _ROW.match(line)
        if match is None:
            continue
        assert match["id"] not in rows, f"row {match['id']} appears twice"
        rows[match["id"]] = _SPAN.findall(match["got"])
    return rows


ROWS = documented()
#: Row ID -> a function of ``Here`` (sync) or ``There`` (async) returning the row's spans.
CASES: dict[str, Callable[..., Any]] = {}


def case(row_id: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register the function that produces what row ``row_id`` documents."""

    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        assert row_id not in CASES, f"two cases for {row_id}"
        CASES[row_id] = func
        return func

    return register


def raised(func: Callable[[], object]) -> list[str]:
    """``Type: message`` of what ``func`` raises (it must raise)."""
    with pytest.raises(Exception) as caught:  # noqa: PT011 - the type is part of the output
        func()
    return [f"{type(caught.value).__name__}: {caught.value}"]


async def raised_async(awaitable: Awaitable[object]) -> list[str]:
    """``Type: message`` of what ``awaitable`` raises (it must raise)."""
    with pytest.raises(Exception) as caught:  # noqa: PT011 - the type is part of the output
        await awaitable
    return [f"{type(caught.value).__name__}: {caught.value}"]


def item_json(report: Report, item_id: str) -> list[str]:
    """One report item's outcome, code and message, as the JSON report shows them."""
    (item,) = (i for i in report.items if i.id == item_id)
    data = item.to_json()
    return [json.dumps({key: data[key] for key in ("outcome", "code", "message")})]


# --- the command line -----------------------------------------------------------------------


@attrs.define
class Cli:
    """Runs ``aicore-bulk`` in-process, as a user in ``tmp_path`` with only the given settings."""

    tmp_path: Path
    monkeypatch: pytest.MonkeyPatch
    capsys: pytest.CaptureFixture[str]
    #: What the last run printed to stdout.
    out: str = ""

    def __call__(
        self,
        *args: str,
        sim: Simulator | None = None,
        env: dict[str, str | None] | None = None,
        stdin: str | bytes | None = None,
        reads: bool = False,
    ) -> list[str]:
        """``exit N``, then the lines it printed to stderr about itself (no usage lines).

        Bad input never changes anything; unless ``reads``, it is found before any request.
        The simulator's port is shown as ``PORT``.
        """
        sim = sim or Simulator()
        with serve_in_thread(sim) as server:
            self._environment({**server.environment(), **(env or {})})
            if isinstance(stdin, bytes):  # a pipe: text over bytes
                self.monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
            elif stdin is not None:  # text only, as a test's replaced stdin may be
                self.monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
            code = _run_main([*args, "--no-progress"])
        captured = self.capsys.readouterr()
        self.out = captured.out
        stderr = captured.err.replace(server.url, "http://127.0.0.1:PORT")
        statistics = sim.statistics()
        assert statistics.mutating_requests == 0
        if not reads:
            assert statistics.total_requests == 0
        lines = [line for line in stderr.splitlines() if line.startswith("aicore-bulk")]
        return [f"exit {code}", *lines]

    def _environment(self, settings: dict[str, str | None]) -> None:
        for name in list(os.environ):
            if name.startswith("AICORE_") or name == "VCAP_SERVICES":
                self.monkeypatch.delenv(name)
        self.monkeypatch.setenv("HOME", str(self.tmp_path))
        self.monkeypatch.chdir(self.tmp_path)
        for name, value in settings.items():
            if value is None:
                self.monkeypatch.delenv(name, raising=False)
            else:
                self.monkeypatch.setenv(name, value)


def _run_main(argv: list[str]) -> int:
    """``main(argv)``; argparse's own errors exit through SystemExit."""
    logger = logging.getLogger("aicore_bulk")
    handlers, level = list(logger.handlers), logger.level
    try:
        return main(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    finally:
        # -v adds a handler on stderr: it must not outlive this run's captured stderr.
        logger.handlers[:] = handlers
        logger.setLevel(level)


@attrs.frozen
class Here:
    """What a synchronous case may use."""

    cli: Cli
    tmp_path: Path


# --- a scripted server ----------------------------------------------------------------------

AUTH = "https://auth.example.com"
TOKEN_URL = f"{AUTH}/oauth/token"
META = {"aiApi": {"capabilities": {"bulkUpdates": {"executions": True, "deployments": True}}}}
ONE, TWO = ["e-0001"], ["e-0001", "e-0002"]
HTML, TEXT = "text/html", "text/plain"
SCHEDULED = "Execution modification scheduled"


def answer(
    server: Recorder,
    method: str,
    url: str,
    status: int,
    body: object,
    *,
    content_type: str = "application/json",
) -> None:
    """Script the answer to every ``method url`` (with its query) from now on."""
    server.answer(method, url, status, body)
    path, _, query = url.partition("?")
    key = (method, path, tuple(sorted(query.split("&"))) if query else ())
    server.answers[key] = attrs.evolve(server.answers[key], headers={"Content-Type": content_type})


def healthy(ids: list[str]) -> Recorder:
    """A service that gives tokens, offers bulk updates, and holds ``ids`` as DEAD.

    It accepts every change of them; a case replaces the one answer it is about.
    """
    server = Recorder()
    answer(server, "POST", TOKEN_URL, 200, {"access_token": "tok-123", "expires_in": 3600})
    answer(server, "GET", f"{BASE}/lm/meta", 200, META)
    answer(server, "GET", f"{BASE}/lm/executions/$count", 200, str(len(ids)).encode())
    resources = [{"id": item_id, "status": "DEAD"} for item_id in ids]
    listing = f"{BASE}/lm/executions?$top=25000&$skip=0"
    answer(server, "GET", listing, 200, {"count": len(ids), "resources": resources})
    for item_id in ids:
        read = f"{BASE}/lm/executions/{item_id}"
        answer(server, "GET", read, 200, {"id": item_id, "status": "DEAD"})
    accepted = [{"id": item_id, "message": SCHEDULED} for item_id in ids]
    answer(server, "PATCH", f"{BASE}/lm/executions", 202, {"executions": accepted})
    return server


def scripted(server: Callable[[Request], Awaitable[Response]], **options: Any) -> BulkClient:
    """A client of the scripted server, on virtual time."""
    settings: dict[str, Any] = {
        "base_url": BASE,
        "auth_url": AUTH,
        "client_id": "client",
        "client_secret": "secret",
        "resource_group": "default",
        "transport": MockTransport(server),
        "clock": VirtualClock(),
    }
    return BulkClient(**{**settings, **options})


async def delete_report(server: Recorder, ids: list[str]) -> Report:
    async with scripted(server) as client:
        return await client.delete("executions", ids)


async def delete_error(server: Recorder, ids: list[str], **options: Any) -> list[str]:
    async with scripted(server, **options) as client:
        return await raised_async(client.delete("executions", ids))


@attrs.frozen
class There:
    """What an asynchronous case may use: a client of the simulator, and the simulator."""

    make_client: Callable[..., BulkClient]
    simulator: Simulator

    async def refused(self, call: Callable[[BulkClient], Awaitable[object]]) -> list[str]:
        """What ``call`` raises on a simulator client; bad input must send nothing."""
        async with self.make_client() as client:
            got = await raised_async(call(client))
        assert self.simulator.statistics().total_requests == 0
        return got


# --- I: IDs given to the Python API ---------------------------------------------------------

BAD_IDS: dict[str, object] = {
    "I1": ["e-0001", ""],
    "I2": ["bad id"],
    "I3": ["abc"],
    "I4": ["e" * 65],
    "I5": ["e-0001/../x"],
    "I6": ["exé-0001"],
    "I7": ["e-0001", 42],
    "I8": ["e-0001", None],
    "I9": [b"e-0001"],
    "I10": "e-0001",
    "I11": None,
}


async def _delete_bad_ids(there: There, *, ids: Any) -> list[str]:
    return await there.refused(lambda client: client.delete("executions", ids))


for _row, _ids in BAD_IDS.items():
    case(_row)(functools.partial(_delete_bad_ids, ids=_ids))


@case("I12")
async def _unknown_kind(there: There) -> list[str]:
    return await there.refused(lambda client: client.delete("models", ONE))  # type: ignore[arg-type]


@case("I13")
async def _unknown_target(there: There) -> list[str]:
    return await there.refused(lambda client: client.plan("executions", ONE, target="GONE"))  # type: ignore[arg-type]


# --- F, D, C, X: the command line -----------------------------------------------------------

_DEAD = ("delete", "executions", "--status", "DEAD")

#: Rows that are a command line and nothing else (with a working configuration).
COMMANDS: dict[str, tuple[str, ...]] = {
    "F1": ("delete", "executions", "e-0001", "bad id"),
    "F2": ("delete", "executions", "--ids-file", "missing.txt"),
    "D1": (*_DEAD, "--older-than", "7 days"),
    "D2": (*_DEAD, "--older-than", "7"),
    "D3": (*_DEAD, "--older-than=-1d"),
    "D4": (*_DEAD, "--older-than", "-1d"),
    "D5": (*_DEAD, "--deadline", "0"),
    "D6": (*_DEAD, "--deadline", "soon"),
    "D7": (*_DEAD, "--timeout", "inf"),
    "D8": (*_DEAD, "--stop-wait", "-1"),
    "D9": (*_DEAD, "--poll-interval", "nan"),
    "D10": (*_DEAD, "--rate", "-5"),
    "D11": (*_DEAD, "--concurrency", "0"),
    "D12": (*_DEAD, "--concurrency", "1000"),
    "D13": (*_DEAD, "--retries", "-1"),
    "D14": (*_DEAD, "--max-items", "ten"),
    "D15": ("delete", "executions", "--status", "FINISHED"),
    "D16": ("delete", "models", "e-0001"),
    "D17": (*_DEAD, "--keep-latest", "0"),
    "D18": (*_DEAD, "--keep-latest", "2", "--keep-latest-per", "team"),
    "U7": ("delete", "executions", "e-0001", "--base-url", "http://api.ai.example.com"),
    "C7": ("delete", "executions", "e-0001", "--profile", "staging"),
    "C12": ("delete", "executions", "e-0001", "--resource-group", "my group"),
    "L17": ("delete", "executions", "--scenario-id", "my scenario"),
    "X1": ("delete", "executions", "e-0001", "--status", "DEAD"),
    "X2": ("delete", "executions", "--all", "--status", "DEAD"),
    "X3": ("delete", "executions"),
    "X4": (*_DEAD, "--age-field", "completion"),
    "X5": ("delete", "executions", "e-0001", "--client-secret", "hunter2"),
    "X6": ("delete", "executions", "e-0001", "-q", "-v"),
    "X9": ("delete", "executions", "e-0001", "--dry-run", "--journal", "run.journal"),
    "X10": ("resume", "missing.journal"),
    "X11": (*_DEAD, "--all-resource-groups", "--resource-group", "ml-train"),
    "X12": (*_DEAD, "--resource-group-label", "ext.ai.sap.com/team=ml"),
    "X13": (*_DEAD, "--all-resource-groups", "--resource-group-label", "team"),
    "X14": ("delete", "executions", "e-0001", "--resource-group", "a-1", "--resource-group", "b-2"),
    "X15": (*_DEAD, "--resource-group", "a-1", "--resource-group", "b-2", "--wait"),
    "X18": (*_DEAD, "--keep-latest-per", "scenario"),
}


def _command(here: Here, *, args: tuple[str, ...]) -> list[str]:
    return here.cli(*args)


for _row, _args in COMMANDS.items():
    case(_row)(functools.partial(_command, args=_args))


def _ids_file(here: Here, name: str, content: bytes) -> list[str]:
    (here.tmp_path / name).write_bytes(content)
    return here.cli("delete", "executions", "--ids-file", name)


@case("F3")
def _folder_as_ids_file(here: Here) -> list[str]:
    (here.tmp_path / "ids").mkdir()
    return here.cli("delete", "executions", "--ids-file", "ids")


@case("F4")
def _binary_ids_file(here: Here) -> list[str]:
    return _ids_file(here, "ids.gz", b"\x1f\x8b\x08\x00\x9c\xd4\xff\x00\x03")


@case("F5")
def _latin1_ids_file(here: Here) -> list[str]:
    return _ids_file(here, "ids.txt", "e-0001\nrésumé-01\n".encode("latin-1"))


@case("F6")
def _bad_line(here: Here) -> list[str]:
    return _ids_file(here, "ids.txt", b"e-0001\n# old runs\nnot valid!\n")


@case("F7")
def _csv_export(here: Here) -> list[str]:
    return _ids_file(here, "ids.csv", b"id,status\ne-0001,DEAD\n")


@case("F8")
def _bad_stdin_line(here: Here) -> list[str]:
    return here.cli("delete", "executions", "--ids-file", "-", stdin="e-0001\ne 0002\n")


@case("F9")
def _latin1_stdin(here: Here) -> list[str]:
    stdin = "e-0001\nété-0002\n".encode("latin-1")
    return here.cli("delete", "executions", "--ids-file", "-", stdin=stdin)


@case("F10")
def _missing_secret_file(here: Here) -> list[str]:
    args = ("delete", "executions", "e-0001", "--client-secret-file", "secret.txt")
    return here.cli(*args, env={"AICORE_CLIENT_SECRET": None})


def _three_dead() -> Simulator:
    sim = Simulator()
    for n in range(1, 4):
        sim.put("executions", f"e-000{n}", "DEAD")
    return sim


@case("X7")
def _over_max_items(here: Here) -> list[str]:
    args = ("delete", "executions", "--all", "--max-items", "2")
    return here.cli(*args, sim=_three_dead(), reads=True)


@case("X8")
def _plan_over_max_items(here: Here) -> list[str]:
    args = ("plan", "delete", "executions", "--all", "--max-items", "2", "-q")
    return here.cli(*args, sim=_three_dead(), reads=True)


@case("X16")
def _no_admin_scope(here: Here) -> list[str]:
    args = (*_DEAD, "--all-resource-groups")
    return here.cli(*args, sim=Simulator(SimulatorConfig(admin_scope=False)), reads=True)


@case("X17")
def _no_group_matches(here: Here) -> list[str]:
    args = (*_DEAD, "--all-resource-groups", "--resource-group-label", "ext.ai.sap.com/team=none")
    return here.cli(*args, reads=True)


@case("T7")
def _wrong_secret(here: Here) -> list[str]:
    env: dict[str, str | None] = {"AICORE_CLIENT_SECRET": "wrong"}
    return here.cli("delete", "executions", "e-0001", env=env, reads=True)


# --- U, L: objects of the Python API that refuse to be built --------------------------------


def _client(**settings: Any) -> BulkClient:
    return BulkClient(**{"base_url": BASE, "resource_group": "default", "token": "tok", **settings})


#: Rows whose input is one constructor call.
CONSTRUCTORS: dict[str, Callable[[], object]] = {
    "U1": lambda: _client(base_url="api.ai.example.com"),
    "U2": lambda: _client(base_url="ftp://api.ai.example.com"),
    "U3": lambda: _client(base_url="http://api.ai.example.com"),
    "U4": lambda: _client(base_url="https://api.ai.example.com/v2?resourceGroup=default"),
    "U5": lambda: _client(base_url="https://api.ai.example.com:443x"),
    "L1": lambda: Limits(concurrency=0),
    "L2": lambda: Limits(rate=-1),
    "L3": lambda: RetryPolicy(attempts=0),
    "L4": lambda: RunOptions(page_size=0),
    "L5": lambda: RunOptions(page_size=100_001),
    "L6": lambda: RunOptions(stop_wait=-1),
    "L7": lambda: RunOptions(batch_wait=-5),
    "L10": lambda: _client(options={"stop_wait": 30}),
    "L8": lambda: Selection(older_than=-1),
    "L9": lambda: Selection(scenario_id="my scenario"),
    "L11": lambda: Selection(statuses=5),  # type: ignore[arg-type]
    "L12": lambda: Selection(statuses="FINISHED"),
    "L13": lambda: Selection(older_than="30d"),  # type: ignore[arg-type]
    "L14": lambda: Selection(older_than=float("nan")),
    "L15": lambda: Selection(executable_ids=[42]),  # type: ignore[list-item]
    "L16": lambda: Selection(scenario_id=42),  # type: ignore[arg-type]
    "L18": lambda: Selection(keep_latest=0),
    "L19": lambda: Selection(keep_latest_per="scenario"),
    "L20": lambda: Selection(keep_latest=2, keep_latest_per="team"),  # type: ignore[arg-type]
}


def _constructor(here: Here, *, build: Callable[[], object]) -> list[str]:
    return raised(build)


for _row, _build in CONSTRUCTORS.items():
    case(_row)(functools.partial(_constructor, build=_build))


# --- U, K, C: settings from the environment and files ---------------------------------------


def _key(**fields: object) -> str:
    """``service_key()`` as JSON, with the fields given as None left out."""
    key = service_key(**fields)
    return json.dumps({name: value for name, value in key.items() if value is not None})


_GROUP = {"AICORE_RESOURCE_GROUP": "default"}
_PASTED = "Getting key my-key for service instance aicore as me...\n\n"

#: Rows whose input is ``BulkClient.from_env()`` with only these variables.
ENVIRONMENTS: dict[str, dict[str, str]] = {
    "U6": {**ENV, "AICORE_AUTH_URL": "auth.example.com/oauth/token"},
    "K1": {"AICORE_SERVICE_KEY": _PASTED + _key(), **_GROUP},
    "K2": {"AICORE_SERVICE_KEY": f"[{_key()}]", **_GROUP},
    "K3": {"AICORE_SERVICE_KEY": _key(clientsecret=None), **_GROUP},
    "K4": {"AICORE_SERVICE_KEY": _key(serviceurls=None), **_GROUP},
    "K5": {"AICORE_SERVICE_KEY": _key(clientsecret=12345), **_GROUP},
    "K6": {"AICORE_SERVICE_KEY": _key(serviceurls="https://api.ai.example.com"), **_GROUP},
    "K7": {"AICORE_SERVICE_KEY": _key(clientsecret=None, certificate="-----BEGIN..."), **_GROUP},
    "K8": {"VCAP_SERVICES": json.dumps({"aicore": {"credentials": service_key()}}), **_GROUP},
    "C11": {**ENV, "AICORE_TOKEN": "tok-123"},
    "C13": {name: value for name, value in ENV.items() if name != "AICORE_RESOURCE_GROUP"},
}


def _from_env(here: Here, *, environ: dict[str, str], **options: str) -> list[str]:
    """``BulkClient.from_env()`` with only ``environ`` and ``~/.aicore`` in ``tmp_path``."""
    return raised(lambda: BulkClient.from_env(environ=environ, home=here.tmp_path, **options))


for _row, _environ in ENVIRONMENTS.items():
    case(_row)(functools.partial(_from_env, environ=_environ))


def _config_file(here: Here, content: bytes) -> list[str]:
    path = here.tmp_path / ".aicore" / "config.json"
    path.parent.mkdir()
    path.write_bytes(content)
    return _from_env(here, environ=ENV)


@case("C1")
def _trailing_comma(here: Here) -> list[str]:
    return _config_file(here, b'{\n  "AICORE_RESOURCE_GROUP": "default",\n}\n')


@case("C2")
def _config_not_an_object(here: Here) -> list[str]:
    return _config_file(here, b'["AICORE_RESOURCE_GROUP", "default"]')


@case("C3")
def _config_value_not_a_string(here: Here) -> list[str]:
    return _config_file(here, b'{"AICORE_RESOURCE_GROUP": 7}')


@case("C4")
def _config_not_utf8(here: Here) -> list[str]:
    return _config_file(here, '{"AICORE_RESOURCE_GROUP": "café"}'.encode("latin-1"))


@case("C5")
def _config_is_a_folder(here: Here) -> list[str]:
    (here.tmp_path / ".aicore" / "config.json").mkdir(parents=True)
    return _from_env(here, environ=ENV)


@case("C6")
def _missing_profile(here: Here) -> list[str]:
    return _from_env(here, environ=ENV, profile="staging")


@case("C8")
def _profile_that_is_a_path(here: Here) -> list[str]:
    return _from_env(here, environ=ENV, profile="../../etc/passwd")


@case("C9")
def _missing_aicore_config(here: Here) -> list[str]:
    return _from_env(here, environ={**ENV, "AICORE_CONFIG": str(here.tmp_path / "aicore.json")})


@case("C10")
def _config_path_and_profile(here: Here) -> list[str]:
    path = write_json(here.tmp_path / "aicore.json", {})
    return _from_env(here, environ=ENV, config_path=str(path), profile="staging")


# --- S: what the service answers to a bulk change -------------------------------------------

#: Rows whose input is one answer to every bulk PATCH of ``e-0001``: (status, body, type).
BULK_ANSWERS: dict[str, tuple[int, object, str]] = {
    "S1": (202, SCHEDULED.encode(), TEXT),
    "S2": (202, {"executions": [{"id": "e-0001", "message": 5}]}, "application/json"),
    "S5": (502, b"<html><body><h1>502 Bad Gateway</h1></body></html>", HTML),
    "S6": (202, b"", "application/json"),
    "S7": (202, {"deployments": [{"id": "e-0001", "message": SCHEDULED}]}, "application/json"),
    "S8": (202, {"executions": [{"id": "e-0001", "error": {}}]}, "application/json"),
    "S9": (200, {"executions": [{"id": "e-0001", "message": SCHEDULED}]}, "application/json"),
    "S10": (
        400,
        {"error": {"code": "01000001", "message": "Request body is malformed"}},
        "application/json",
    ),
    "S11": (400, b"<html>Bad Request</html>", HTML),
    "S12": (403, {"error": {"message": "Insufficient scope"}}, "application/json"),
    "S13": (401, b"", HTML),
}


async def _bulk_answer(there: There, *, status: int, body: object, kind: str) -> list[str]:
    server = healthy(ONE)
    answer(server, "PATCH", f"{BASE}/lm/executions", status, body, content_type=kind)
    return item_json(await delete_report(server, ONE), "e-0001")


for _row, (_status, _body, _type) in BULK_ANSWERS.items():
    case(_row)(functools.partial(_bulk_answer, status=_status, body=_body, kind=_type))


@case("S3")
async def _answer_missing_an_id(there: There) -> list[str]:
    server = healthy(TWO)
    body = {"executions": [{"id": "e-0001", "message": SCHEDULED}]}
    answer(server, "PATCH", f"{BASE}/lm/executions", 202, body)
    report = await delete_report(server, TWO)
    assert item_json(report, "e-0001") == [
        json.dumps({"outcome": "deleted", "code": None, "message": SCHEDULED})
    ]
    return item_json(report, "e-0002")


@case("S4")
async def _answer_with_an_extra_id(there: There) -> list[str]:
    server = healthy(ONE)
    entries = [{"id": item_id, "message": SCHEDULED} for item_id in ("e-0001", "e-9999")]
    answer(server, "PATCH", f"{BASE}/lm/executions", 202, {"executions": entries})
    report = await delete_report(server, ONE)
    assert [item.id for item in report.items] == ONE
    return item_json(report, "e-0001")


# --- R: what the service answers to reads ---------------------------------------------------

_READ = f"{BASE}/lm/executions/e-0001"
_COUNT = f"{BASE}/lm/executions/$count"

#: Rows whose input is one answer to every ``GET url`` of a run on ``e-0001``.
READ_ANSWERS: dict[str, tuple[str, int, object, str]] = {
    "R1": (f"{BASE}/lm/meta", 200, b"<html>Sign in</html>", HTML),
    "R2": (f"{BASE}/lm/meta", 502, b"<html>502 Bad Gateway</html>", HTML),
    "R3": (_COUNT, 200, {"count": 1}, "application/json"),
    "R6": (_READ, 200, {"id": "e-0001", "status": "EXPLODED"}, "application/json"),
    "R7": (_READ, 500, b"<html>Internal Server Error</html>", HTML),
    "R8": (
        _COUNT,
        400,
        {"error": {"code": "01000004", "message": "Missing header AI-Resource-Group"}},
        "application/json",
    ),
    "R9": (_COUNT, 403, {"error": {"message": "Insufficient scope"}}, "application/json"),
}


async def _read_answer(
    there: There, *, url: str, status: int, body: object, kind: str
) -> list[str]:
    """The error raised, or, when the run goes on, the item's outcome."""
    server = healthy(ONE)
    answer(server, "GET", url, status, body, content_type=kind)
    async with scripted(server) as client:
        try:
            report = await client.delete("executions", ONE)
        except Exception as error:  # noqa: BLE001 - the type is part of the output
            return [f"{type(error).__name__}: {error}"]
    return item_json(report, "e-0001")


for _row, (_url, _status, _body, _type) in READ_ANSWERS.items():
    case(_row)(functools.partial(_read_answer, url=_url, status=_status, body=_body, kind=_type))


@case("R4")
async def _list_without_resources(there: There) -> list[str]:
    server = healthy(TWO)
    listing = f"{BASE}/lm/executions?$top=25000&$skip=0"
    answer(server, "GET", listing, 200, {"count": 2, "items": []})
    return await delete_error(server, TWO)


@case("R5")
async def _list_ignores_skip(there: There) -> list[str]:
    ids = ["e-0001", "e-0002", "e-0003", "e-0004"]
    server = healthy(ids)
    page = {"count": 4, "resources": [{"id": i, "status": "DEAD"} for i in ids[:2]]}
    for skip in (0, 2):
        answer(server, "GET", f"{BASE}/lm/executions?$top=2&$skip={skip}", 200, page)
    return await delete_error(server, ids, options=RunOptions(page_size=2))


# --- T: the token endpoint ------------------------------------------------------------------

#: Rows whose input is one answer to every token request: (status, body, type).
TOKEN_ANSWERS: dict[str, tuple[int, object, str]] = {
    "T1": (
        401,
        {"error": "unauthorized", "error_description": "Bad credentials"},
        "application/json",
    ),
    "T2": (403, b"<html>Forbidden</html>", HTML),
    "T3": (429, b"Too Many Requests", TEXT),
    "T4": (200, b"<html>Sign in to continue</html>", HTML),
    "T5": (200, {"token_type": "bearer", "expires_in": 3600}, "application/json"),
}


async def _token_answer(there: There, *, status: int, body: object, kind: str) -> list[str]:
    server = healthy(ONE)
    answer(server, "POST", TOKEN_URL, status, body, content_type=kind)
    got = await delete_error(server, ONE)
    assert {request.url for request in server.sent} == {TOKEN_URL}  # the API was never called
    return got


for _row, (_status, _body, _type) in TOKEN_ANSWERS.items():
    case(_row)(functools.partial(_token_answer, status=_status, body=_body, kind=_type))


@case("T6")
async def _token_endpoint_unreachable(there: There) -> list[str]:
    async def refuse(request: Request) -> Response:
        raise TransportError("connect", "the connection was refused")

    async with scripted(refuse) as client:
        return await raised_async(client.delete("executions", ONE))


# --- P: the command line's failure paths ---------------------------------------------------


@case("P1")
def _report_in_a_missing_folder(here: Here) -> list[str]:
    return here.cli("delete", "executions", "--all", "--report", "out/report.json")


@case("P2")
def _report_path_is_a_folder(here: Here) -> list[str]:
    (here.tmp_path / "out").mkdir()
    return here.cli("delete", "executions", "--all", "--report", "out")


@case("P3")
def _journal_in_a_missing_folder(here: Here) -> list[str]:
    return here.cli("delete", "executions", "--all", "--journal", "out/run.journal")


def _unreachable(here: Here, **env: str | None) -> list[str]:
    """A run against an address that cannot be reached, without waits between tries.

    The waits are not what these rows are about (tests/cli/test_failure_paths.py keeps them).
    """
    here.cli.monkeypatch.setattr("aicore_bulk._auth.CONNECT_WAIT", 0.0)
    here.cli.monkeypatch.setattr("aicore_bulk._caller.CONNECT_WAIT", 0.0)
    return here.cli("delete", "executions", "--all", env=env, reads=True)


@case("P4")
def _token_name_does_not_resolve(here: Here) -> list[str]:
    return _unreachable(here, AICORE_AUTH_URL="https://auth.nowhere.invalid/oauth/token")


@case("P5")
def _token_connection_refused(here: Here) -> list[str]:
    return _unreachable(here, AICORE_AUTH_URL="http://127.0.0.1:9/oauth/token")


@case("P6")
def _api_name_does_not_resolve(here: Here) -> list[str]:
    return _unreachable(here, AICORE_BASE_URL="https://api.nowhere.invalid/v2")


@case("P7")
def _api_connection_refused(here: Here) -> list[str]:
    return _unreachable(here, AICORE_BASE_URL="http://127.0.0.1:9/v2")


@case("P8")
def _simulate_on_a_busy_port(here: Here) -> list[str]:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = _run_main(["simulate", "--port", str(port)])
    stderr = here.cli.capsys.readouterr().err.replace(f":{port}:", ":PORT:")
    return [f"exit {code}", *(line for line in stderr.splitlines() if line.startswith("aicore"))]


@case("P9")
def _simulate_label_key_without_prefix(here: Here) -> list[str]:
    code = _run_main(["simulate", "--resource-group", "ml-a:team=ml"])
    stderr = here.cli.capsys.readouterr().err
    return [f"exit {code}", *(line for line in stderr.splitlines() if line.startswith("aicore"))]


# --- the tests ------------------------------------------------------------------------------


def _row_ids(*, run_async: bool) -> list[str]:
    return [
        row_id
        for row_id in ROWS
        if row_id in CASES and inspect.iscoroutinefunction(CASES[row_id]) == run_async
    ]


def test_every_row_has_a_case_and_every_case_a_row():
    """The page and the cases list the same IDs, and every row shows some output."""
    assert len(ROWS) >= 32
    assert sorted(ROWS) == sorted(CASES)
    assert all(ROWS.values())


@pytest.mark.parametrize("row_id", _row_ids(run_async=False))
def test_command_line_and_settings_rows(row_id, tmp_path, monkeypatch, capsys):
    """The command line and the settings give exactly the documented error."""
    here = Here(Cli(tmp_path, monkeypatch, capsys), tmp_path)

    assert CASES[row_id](here) == ROWS[row_id]


@pytest.mark.parametrize("row_id", _row_ids(run_async=True))
async def test_python_api_and_server_rows(row_id, make_client, aicore_simulator):  # noqa: F811
    """The Python API, and answers of the service, give exactly the documented outcome."""
    got = await CASES[row_id](There(make_client, aicore_simulator))

    assert got == ROWS[row_id]


def test_a_windows_ids_file_is_read(tmp_path, monkeypatch, capsys):
    """A byte order mark and CRLF line ends (Notepad's UTF-8) are not part of the IDs."""
    (tmp_path / "ids.txt").write_bytes("\ufeffe-0001\r\ne-0002\r\n".encode())
    cli = Cli(tmp_path, monkeypatch, capsys)

    args = ("plan", "delete", "executions", "--ids-file", "ids.txt", "-o", "json", "-q")
    got = cli(*args, sim=_three_dead(), reads=True)

    assert got == ["exit 0"]
    assert [item["id"] for item in json.loads(cli.out)["items"]] == ["e-0001", "e-0002"]
