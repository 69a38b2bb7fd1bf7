"""Smoke versions of the benchmark scenarios, so the suite cannot rot.

They run every contender on a few hundred items and check behaviour and request counts,
never timings (timings belong to ``nox -s bench``); the bookkeeping (medians, bounds, tables)
is checked with known inputs.
"""

from __future__ import annotations

import asyncio
import math

import pytest

from benchmarks import run as bench


@pytest.mark.parametrize(
    ("contender", "items"),
    [
        ("per-item", 50),
        ("sdk", 300),
        ("raw-aiohttp", 300),
        ("aicore-bulk", 300),
        ("aicore-bulk-selection", 300),
    ],
)
def test_every_contender_cleans_a_backlog_of_its_own_size(contender, items):
    """Each contender deletes a whole fresh group of its size, with no contract violation."""
    row = asyncio.run(bench.measure(contender, items=items, mix=bench.DELETABLE_MIX))

    assert row["left"] == 0
    assert row["violations"] == 0
    assert row["items"] == items
    assert row["bound_s"] > 0
    assert row["x_bound"] == pytest.approx(row["seconds"] / row["bound_s"], rel=1e-2)
    if contender.startswith("aicore-bulk"):
        assert row["changes"] == row["min_changes"] == 3  # ceil(300 / 100): the minimum


def test_aicore_bulk_pipelines_a_mixed_tenant_with_the_minimum_of_changes():
    """With 20 % running, aicore-bulk deletes everything in ceil(n/100) + ceil(running/100)."""
    row = asyncio.run(bench.measure("aicore-bulk", items=500, mix=bench.MIXED))

    assert row["left"] == 0
    assert row["violations"] == 0
    assert row["running"] == 100
    assert row["changes"] == math.ceil(500 / 100) + math.ceil(100 / 100)


def test_the_skip_status_prototype_stops_what_bounces_and_deletes_everything():
    """Deleting first, the prototype stops the running items that bounce, then deletes them."""
    row = asyncio.run(bench.measure("skip-status", items=500, mix=bench.MIXED))

    assert row["left"] == 0
    # The harness listed every status to learn the IDs, so the simulator counts each blind
    # delete of a running item as against a status shown to "the client": those and no more.
    assert row["violations"] == row["running"] == 100
    assert row["serial_reads"] == 0
    # 5 deletes, 1 stop of the 100 that bounced, then at least 1 delete of them.
    assert row["changes"] >= row["min_changes"] == 5 + 2


def test_static_and_adaptive_rates_both_finish_under_a_limit():
    """Against an untold rate limit, adaptive and static pacing both finish, truthfully."""
    adaptive = asyncio.run(bench.measure("aicore-bulk", items=300, mix=bench.MIXED, limit=50.0))
    static = asyncio.run(
        bench.measure("aicore-bulk", items=300, mix=bench.MIXED, limit=50.0, rate=25.0, static=True)
    )

    assert adaptive["left"] == static["left"] == 0
    assert static["throttled"] == 0
    assert static["bound_s"] >= static["min_changes"] / 50.0 + bench.STOP_DELAY


def test_a_comparison_of_real_runs_records_every_run_and_their_medians():
    """Two rounds of two contenders give two recorded runs each and aicore-bulk's ratio."""
    result = asyncio.run(
        bench.compare(
            "smoke",
            (bench.RAW, bench.AICORE),
            runs=2,
            common={"items": 200, "mix": bench.DELETABLE_MIX},
        )
    )

    raw, aicore = result["rows"]
    assert [len(raw["runs"]), len(aicore["runs"])] == [2, 2]
    assert raw["faster"]["min"] <= raw["faster"]["median"] <= raw["faster"]["max"]
    assert aicore["faster"] is None  # the reference
    assert raw["concurrency"] == 16
    assert aicore["concurrency"] == bench.AICORE_CAP
    assert "| raw aiohttp (no plan/retries) | 16 |" in bench.scenario_table(result)


def test_stat_takes_the_median_min_and_max():
    """The median of an odd count is the middle run; of an even count, the middle two's mean."""
    assert bench.stat([11.9, 10.8, 11.2]) == {"median": 11.2, "min": 10.8, "max": 11.9}
    assert bench.stat([4.0, 1.0, 2.0, 3.0]) == {"median": 2.5, "min": 1.0, "max": 4.0}


def test_spread_shows_the_median_then_min_and_max():
    """A figure reads "11.2x (10.8-11.9)"; a single run shows its value alone."""
    assert bench.spread(bench.stat([11.9, 10.8, 11.2]), "x") == "11.2x (10.8-11.9)"
    assert bench.spread(bench.stat([2.0]), " s", 2) == "2.00 s"
    assert bench.spread(None) == "-"


def test_the_bound_adds_serial_reads_waves_of_changes_and_the_stop_delay():
    """Token, then reads, then ceil(changes / concurrency) round trips, then the stop delay."""
    bound = bench.bound_seconds(
        changes=240,
        concurrency=16,
        latency=0.1,
        reads=1,
        token_s=0.01,
        read_s=0.05,
        change_s=0.002,
        stop_delay=5.0,
    )

    assert bound == pytest.approx(0.01 + (0.1 + 0.05) + 15 * (0.1 + 0.002) + 5.0)


def test_the_bound_under_a_rate_limit_is_changes_over_the_limit_plus_the_stop_delay():
    """Under a limit, latency and concurrency do not matter: changes / limit + stop delay."""
    bound = bench.bound_seconds(
        changes=140, concurrency=16, latency=0.02, reads=1, limit=20.0, stop_delay=5.0
    )

    assert bound == pytest.approx(12.0)


def test_the_simulators_busy_time_floors_the_bound_at_0_ms():
    """At 0 ms the round trips add up to almost nothing; the server's busy time is the floor."""
    bound = bench.bound_seconds(
        changes=1000, concurrency=64, latency=0.0, reads=1, change_s=0.0015, busy_s=1.6
    )

    assert bound == pytest.approx(1.6)


def test_the_server_floor_adds_the_latency_that_cannot_overlap_its_cpu():
    """At 100 ms a CPU-bound simulator's floor is its CPU plus the serial read and last change."""
    bound = bench.bound_seconds(changes=200, concurrency=64, latency=0.1, reads=1, busy_s=0.5)

    assert bound == pytest.approx(0.5 + 2 * 0.1)


def test_the_server_floor_counts_only_the_fewest_requests():
    """A contender that sends twice the requests needed gets half the simulator's CPU as floor."""
    stats = {"process_cpu_seconds": 2.0, "busy_seconds": 1.0, "requests": {"bulk": 400}}

    assert bench.server_floor(stats, fewest=200) == pytest.approx(1.0)
    assert bench.server_floor(stats, fewest=800) == pytest.approx(2.0)
    assert bench.server_floor({"busy_seconds": 1.0, "requests": {}}, fewest=1) == 1.0


@pytest.mark.parametrize(
    ("name", "items", "running", "changes", "reads"),
    [
        ("aicore-bulk", 20_000, 4_000, 240, 1),
        ("sdk", 20_000, 4_000, 240, 2),
        ("per-item", 200, 40, 240, 1),
        ("raw-aiohttp", 20_000, 0, 200, 0),
        ("skip-status", 20_000, 4_000, 280, 0),
    ],
)
def test_each_contenders_shape_sets_its_fewest_changes_and_serial_reads(
    name, items, running, changes, reads
):
    """Bulk contenders need ceil(n/100) + ceil(running/100) changes; per-item ones n + running."""
    shape = bench.SHAPES[name]

    assert bench.min_changes(shape, items, running) == changes
    assert bench.serial_reads(shape, items) == reads


def _fake_run(seconds, *, bound=1.0, requests=10, running=0):
    return {
        "contender": "x",
        "items": 100,
        "running": running,
        "concurrency": 16,
        "seconds": seconds,
        "items_per_s": 100 / seconds,
        "bound_s": bound,
        "x_bound": seconds / bound,
        "share_429": 0.0,
        "requests": requests,
        "changes": 1,
        "throttled": 0,
        "cpu_seconds": 0.1,
        "peak_rss_mb": 50.0,
        "left": 0,
        "violations": 0,
        "p95_s": None,
        "unloaded_s": 0.1,
    }


def test_compare_interleaves_rounds_and_takes_each_rounds_ratio():
    """Rounds run every contender in turn; a ratio is the median of the rounds' own ratios."""
    times = iter([4.0, 1.0, 6.0, 2.0, 3.0, 1.5])  # contender, aicore-bulk, by round
    calls = []

    async def fake_measure(name, **options):
        calls.append((name, options["round_tag"]))
        return _fake_run(next(times))

    result = asyncio.run(
        bench.compare(
            "fake",
            (bench.SDK, bench.AICORE),
            runs=3,
            common={"items": 100},
            measure_one=fake_measure,
            between=lambda round_: {"round_tag": round_},
        )
    )

    sdk, aicore = result["rows"]
    assert calls == [(name, round_) for round_ in range(3) for name in ("sdk", "aicore-bulk")]
    assert sdk["faster"] == {"median": 3.0, "min": 2.0, "max": 4.0}  # 4/1, 6/2, 3/1.5
    assert sdk["seconds"] == {"median": 4.0, "min": 3.0, "max": 6.0}
    assert aicore["x_bound"] == {"median": 1.5, "min": 1.0, "max": 2.0}
    assert [run["seconds"] for run in sdk["runs"]] == [4.0, 6.0, 3.0]


def test_the_report_table_has_the_x_bound_column_with_min_and_max():
    """Each scenario's table shows x bound and the ratio as median (min-max)."""
    runs = [_fake_run(1.1, bound=1.0), _fake_run(1.05, bound=1.0), _fake_run(1.2, bound=1.0)]
    refs = [_fake_run(0.5), _fake_run(0.5), _fake_run(0.5)]
    result = {
        "scenario": "backlog 100, 100 ms",
        "items": 100,
        "runs": 3,
        "rows": [bench.summarise("SAP SDK bulk_modify loop", runs, refs)],
    }
    text = bench.report({"machine": "m", "command": "c", "total_seconds": 1.0, "backlog": [result]})

    assert "| contender | conc. | seconds | items/s | x bound |" in text
    assert "| 1.10x (1.05-1.20) |" in text
    assert "| 2.2x (2.1-2.4) |" in text  # aicore-bulk faster, round by round
    assert "| 0 | 0.0 % |" in text  # 429s, then their share of the requests


def test_the_skip_status_evaluation_applies_both_of_the_issues_conditions():
    """Adopted only when faster and within one extra request per 100 stopped items."""
    engine = [_fake_run(6.0, requests=250, running=4_000)] * 3
    proto = [_fake_run(5.0, requests=300, running=4_000)] * 3
    result = {
        "rows": [
            bench.summarise("skip-status prototype", proto, None),
            bench.summarise("aicore-bulk", engine, None),
        ]
    }

    verdict = bench.evaluate_skip(result)

    assert verdict["faster"] is True
    assert verdict["allowed_extra"] == 40
    assert verdict["extra_requests"] == 50
    assert verdict["adopt"] is False


def test_the_plot_draws_the_fair_comparison(tmp_path):
    """The plot is written from the backlog comparisons, with their min-max."""
    pytest.importorskip(
        "matplotlib", reason="the plot needs the bench extra: pip install -e '.[bench]'"
    )
    runs = [_fake_run(2.0), _fake_run(2.5), _fake_run(3.0)]
    refs = [_fake_run(1.0)] * 3
    backlog = [
        {
            "scenario": f"backlog 100, {ms} ms",
            "items": 100,
            "runs": 3,
            "rows": [
                bench.summarise("SAP SDK", runs, refs),
                bench.summarise("aicore-bulk", refs, None),
            ],
        }
        for ms in (0, 100)
    ]
    path = tmp_path / "plot.png"

    bench.plot({"backlog": backlog, "runs": 3}, path)

    assert path.read_bytes().startswith(b"\x89PNG")
