"""Developer sessions, named after what they check: ``nox -s tests lint typing docs bench``.

``nox -s otel`` runs the OpenTelemetry integration's tests with its extra installed,
``nox -s lowest`` runs the suite on the lowest versions pyproject.toml allows,
``nox -s package`` builds and checks the distributions and runs the demo from the wheel,
``nox -s reliability`` runs the chaos and kill-and-resume tests at full size,
``nox -s integrations`` runs Prefect 3 flows and Airflow 3 DAGs against the simulator.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.sessions = ["lint", "typing", "tests"]
# CI must not skip a session because an interpreter is missing.
nox.options.error_on_missing_interpreters = "CI" in os.environ

# What ruff checks and formats; .ci/run names the same paths.
LINTED = ("src", "tests", "benchmarks", "noxfile.py", "docs/examples")


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite with branch coverage, subprocesses included.

    The whole suite must reach ``fail_under``; a selection given as arguments need not.
    """
    session.install("-e", ".[test]")
    session.run("coverage", "erase")
    session.run("coverage", "run", "-m", "pytest", *session.posargs)
    session.run("coverage", "combine")
    session.run("coverage", "report", *(["--fail-under=0"] if session.posargs else []))


@nox.session
def lint(session: nox.Session) -> None:
    """Lint with ruff and check that ruff's formatter would change nothing."""
    session.install("-e", ".[lint]")
    session.run("ruff", "check", *LINTED)
    session.run("ruff", "format", "--check", *LINTED)


@nox.session
def typing(session: nox.Session) -> None:
    """Type-check the package with mypy --strict."""
    # test too: the pytest plugin in aicore_bulk.testing imports pytest and pytest-asyncio.
    session.install("-e", ".[lint,test]")
    session.run("mypy")


@nox.session
def docs(session: nox.Session) -> None:
    """Build the docs site strictly (a warning fails), then run the docs' examples as written."""
    session.install("-e", ".[test,docs]")
    site = session.create_tmp() + "/site"
    session.run("mkdocs", "build", "--strict", "--site-dir", site, env={"NO_MKDOCS_2_WARNING": "1"})
    session.run("python", "docs/examples/tutorial.py")
    session.run("python", "-m", "pytest", "tests/test_recipes.py")
    session.run("aicore-bulk", "demo", "--items", "2000", "--no-progress")


def _floors(*extras: str) -> list[str]:
    """Every ``name>=floor`` of the dependencies (and these extras) as ``name==floor``."""
    project = tomllib.loads(Path("pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = list(project["dependencies"])
    for extra in extras:
        wanted += project["optional-dependencies"][extra]
    pins = []
    for requirement in wanted:
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)(\[[^]]*])?>=([^,;\s]+)", requirement.strip())
        if match is None:
            raise ValueError(f"no plain floor to pin in {requirement!r}")
        name, extra, floor = match.groups()
        pins.append(f"{name}{extra or ''}=={floor}")
    return pins


@nox.session
def otel(session: nox.Session) -> None:
    """Run the OpenTelemetry integration's tests, aiohttp's client instrumentation included.

    The other sessions do not install the otel extra: there these tests are skipped.
    """
    session.install("-e", ".[test,otel]", "opentelemetry-instrumentation-aiohttp-client")
    session.run("coverage", "erase")
    session.run(
        "coverage", "run", "-m", "pytest", "tests/integrations/test_otel.py", *session.posargs
    )
    session.run("coverage", "combine")
    # pyproject.toml omits the module from the suite's report (the suite's venv cannot import
    # it); here it is the one module reported, covered whole. --omit replaces that omit.
    session.run(
        "coverage",
        "report",
        "--include=*/integrations/otel.py",
        "--omit=nothing",
        "--fail-under=100",
    )


@nox.session
def lowest(session: nox.Session) -> None:
    """Run the suite on the lowest versions pyproject.toml allows, so its floors stay true."""
    session.install(*_floors("test"))
    session.install("--no-deps", "-e", ".")
    session.run("pip", "check")
    session.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", *session.posargs)


@nox.session
def package(session: nox.Session) -> None:
    """Build the sdist and the wheel, check their metadata, run the demo from the wheel alone."""
    session.install("build", "twine")
    dist = Path(session.create_tmp()) / "dist"
    session.run("python", "-m", "build", "--outdir", str(dist))
    session.run("twine", "check", "--strict", *map(str, sorted(dist.iterdir())))
    # A clean venv with the wheel and what it declares, nothing from this checkout.
    clean = dist.parent / "clean-venv"
    session.run("python", "-m", "venv", "--clear", str(clean))
    wheel = next(dist.glob("*.whl"))
    session.run(str(clean / "bin" / "pip"), "install", "--quiet", str(wheel), external=True)
    session.run(
        str(clean / "bin" / "aicore-bulk"),
        "demo",
        "--items",
        "2000",
        "--no-progress",
        external=True,
    )


@nox.session
def reliability(session: nox.Session) -> None:
    """Full size: chaos on 50,000 items, 20 SIGKILL-and-resume trials of 20,000 (~6 minutes)."""
    session.install("-e", ".[test]")
    session.run(
        "python",
        "-m",
        "pytest",
        "-s",
        "tests/engine/test_chaos.py",
        "tests/engine/test_journal.py",
        "tests/cli/test_kill_and_resume.py",
        *session.posargs,
        env={
            "AICORE_CHAOS_ITEMS": "50000",
            "AICORE_KILL_TRIALS": "20",
            "AICORE_KILL_ITEMS": "20000",
        },
    )


@nox.session(name="integrations-prefect")
def integrations_prefect(session: nox.Session) -> None:
    """Run Prefect 3 flows with the Prefect tasks against the simulator (about two minutes)."""
    session.install("-e", ".[test,lint,prefect]")
    _integration_tests(session, "prefect")


@nox.session(name="integrations-airflow")
def integrations_airflow(session: nox.Session) -> None:
    """Run Airflow 3 DAGs with the operator against the simulator (about two minutes)."""
    # The extra brings only the task SDK, all a worker needs; dag.test() needs Airflow itself.
    session.install("-e", ".[test,lint,airflow]", "apache-airflow>=3.3")
    _integration_tests(session, "airflow")


@nox.session(python=False, requires=["integrations-prefect", "integrations-airflow"])
def integrations(session: nox.Session) -> None:
    """Both orchestrators, each in a venv of its own: they cannot share one (pyproject.toml)."""
    session.log("Prefect and Airflow integrations passed")


def _integration_tests(session: nox.Session, framework: str) -> None:
    """Type-check against the framework, run ``tests/integrations``, require full coverage."""
    tmp = Path(session.create_tmp()).resolve()  # Airflow wants an absolute SQLite path
    env = {
        "COVERAGE_FILE": str(tmp / ".coverage"),
        # Both write to their home as soon as they are imported: not to the user's.
        "AIRFLOW_HOME": str(tmp / "airflow"),
        "PREFECT_HOME": str(tmp / "prefect"),
        "DO_NOT_TRACK": "1",
    }
    # An import error here fails the session; in pytest it would only skip the tests.
    session.run("python", "-c", f"import aicore_bulk.integrations.{framework}", env=env)
    # nox -s typing sees the framework as Any; here mypy checks our calls against its types.
    session.run("mypy", env=env)
    session.run("coverage", "erase", env=env)
    session.run(
        "coverage",
        "run",
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "tests/integrations",
        *session.posargs,
        env=env,
    )
    session.run("coverage", "combine", "--quiet", env=env)
    # --omit replaces the configured one, which leaves the adapters out of the main total.
    adapter = f"*/aicore_bulk/integrations/{framework}.py"
    session.run(
        "coverage",
        "report",
        f"--include={adapter}",
        "--omit=*/tests/*",
        "--fail-under=100",
        env=env,
    )


@nox.session
def bench(session: nox.Session) -> None:
    """Run every benchmark side by side (about 20 to 25 minutes); writes docs/performance-*."""
    session.install("-e", ".[test,bench]")
    session.run("python", "benchmarks/simulator_throughput.py")
    session.run("python", "benchmarks/run.py", *session.posargs)
