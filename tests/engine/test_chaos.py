"""Chaos: every fault at once; the report must match the ground truth item by item.

The suite runs 3,000 items; ``nox -s reliability`` runs 50,000 (``AICORE_CHAOS_ITEMS``).
A second, heavier mix of faults leaves many items in doubt until the run's final read, which
must settle every one of them: no item is ``unknown`` while the service answers reads.
Everything is logged at DEBUG, and the logs, the report and the journal are searched for the
client secret and every token the simulator issued.
"""

from __future__ import annotations

import io
import json
import logging
import os
from collections import Counter

import attrs
import pytest

from aicore_bulk import Outcome
from aicore_bulk._cli._progress import Progress
from aicore_bulk.testing import Faults, Lifecycle, SimulatorConfig

ITEMS = int(os.environ.get("AICORE_CHAOS_ITEMS", "3000"))
CHAOS = SimulatorConfig(
    seed=2026,
    # Tokens expire every 20 s; the smoke run is shorter than that, so its expire sooner.
    token_lifetime=20.0 if ITEMS >= 50_000 else 1.0,
    shuffle_answers=True,
    lifecycle=Lifecycle(complete=0.2, die=0.1, stopped_by_others=0.2, within=30.0),
    faults=Faults(
        server_errors=0.10,
        unavailable=0.05,
        unavailable_retry_after=1.0,
        dropped_connections=0.02,
        truncated_bodies=0.01,
        throttle_burst_every=15.0,
        throttle_burst_length=1.0,
        # A gateway's steady limit as well: it also makes the full run outlast several tokens.
        rate_limit=25.0,
        rate_burst=10,
    ),
)


#: Faults heavy enough that chains of re-reads run out: items are in doubt at the end.
HEAVY = attrs.evolve(
    CHAOS,
    faults=attrs.evolve(
        CHAOS.faults,
        server_errors=0.25,
        unavailable=0.10,
        dropped_connections=0.05,
        truncated_bodies=0.05,
    ),
)


@pytest.mark.parametrize(
    ("aicore_simulator_config", "deleted_at_least"),
    [(CHAOS, 0.95), (HEAVY, 0.8)],
    ids=["chaos", "heavy"],
)
async def test_chaos_every_item_matches_the_ground_truth(
    client, aicore_simulator, caplog, tmp_path, monkeypatch, deleted_at_least
):
    """With every fault on, each item is told once, none is unknown, none contradicts the truth."""
    caplog.set_level(logging.DEBUG, logger="aicore_bulk")
    issued = []  # every token, expired ones included (the simulator forgets those)
    issue_token = aicore_simulator.issue_token

    def remember_token():
        token, lifetime = issue_token()
        issued.append(token)
        return token, lifetime

    monkeypatch.setattr(aicore_simulator, "issue_token", remember_token)
    ids = aicore_simulator.seed(
        "executions",
        ITEMS,
        statuses={"COMPLETED": 5, "DEAD": 2, "RUNNING": 2, "PENDING": 0.5, "STOPPING": 0.5},
    )
    journal = tmp_path / "chaos.journal"

    # The command line's own listener at -vv: a log line per request, a JSON line per item.
    shown, items_out = io.StringIO(), io.StringIO()
    progress = Progress(stream=shown, bar=False, verb="chaos", items_out=items_out)
    progress.start()  # no confirmation here: show everything from the first event on

    report = await client.delete(
        "executions", [*ids, *ids[:100], "gone-00001"], journal=journal, listener=progress
    )

    results = {item.id: item for item in report}
    assert len(report) == len(results) == ITEMS + 1
    assert report.summary.outcomes[Outcome.UNKNOWN] == 0
    for item_id, item in results.items():
        state = aicore_simulator.state("executions", item_id)
        gone = state is None or state.deleted
        if item.outcome in {Outcome.DELETED, Outcome.ALREADY_ABSENT, Outcome.ALREADY_DELETING}:
            assert gone, item
        else:
            assert item.outcome is Outcome.FAILED, item
            assert not gone, item
    told = [json.loads(line) for line in items_out.getvalue().splitlines()]
    assert {line["id"]: line["outcome"] for line in told} == {
        item.id: item.outcome.value for item in report
    }
    assert len(told) == len(report)  # every item told once, with its final outcome
    stats = aicore_simulator.statistics()
    assert stats.violation_count == 0, stats.violations[:3]
    assert max(stats.bulk_sizes) <= 100
    assert report.summary.outcomes[Outcome.DELETED] >= deleted_at_least * ITEMS
    secrets = [aicore_simulator.config.client_secret, *issued]
    assert len(issued) > 1  # tokens did expire and were fetched again
    assert caplog.text.count("PATCH bulk") > ITEMS / 100  # every request was logged
    logged = caplog.text + repr(report.to_json()) + shown.getvalue() + items_out.getvalue()
    stored = b"".join(path.read_bytes() for path in tmp_path.iterdir())
    assert not any(secret in logged or secret.encode() in stored for secret in secrets)
    stats = aicore_simulator.statistics()
    print(  # noqa: T201 - the figures nox -s reliability reports
        f"\nchaos: {ITEMS:,} items, {report.summary.seconds:.0f} s simulated, "
        f"outcomes {dict(report.summary.to_json()['outcomes'])}, "
        f"{stats.total_requests:,} requests, faults {dict(stats.faults)}, "
        f"{len(secrets) - 1} tokens, violations {stats.violation_count}, "
        f"why not ok: {Counter(item.message for item in report if not item.outcome.ok)}"
    )
