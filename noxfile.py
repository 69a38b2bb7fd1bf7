"""Developer sessions, named after what they check: ``nox -s tests lint typing docs bench``.

``nox -s reliability`` runs the chaos and kill-and-resume tests at full size.
"""

from __future__ import annotations

import os

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
    """Run the docs' examples as written: the tutorial, the recipes, the demo."""
    session.install("-e", ".[test]")
    session.run("python", "docs/examples/tutorial.py")
    session.run("python", "-m", "pytest", "tests/test_recipes.py")
    session.run("aicore-bulk", "demo", "--items", "2000", "--no-progress")


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


@nox.session
def bench(session: nox.Session) -> None:
    """Run every benchmark side by side (about 12 minutes); writes docs/performance-*."""
    session.install("-e", ".[test,bench]")
    session.run("python", "benchmarks/simulator_throughput.py")
    session.run("python", "benchmarks/run.py", *session.posargs)
