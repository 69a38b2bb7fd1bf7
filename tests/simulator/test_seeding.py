"""Seeding is deterministic and gives the statuses, groups and properties asked for."""

from __future__ import annotations

from collections import Counter

import pytest

from aicore_bulk.testing import Lifecycle, Simulator, SimulatorConfig, VirtualClock


def test_seeding_is_deterministic_for_a_seed():
    """The same seed gives the same IDs and statuses; another seed does not."""

    def seeded(seed):
        sim = Simulator(SimulatorConfig(seed=seed), clock=VirtualClock())
        ids = sim.seed("executions", 500)
        return ids, {i: s.status for i, s in sim.states("executions").items()}

    assert seeded(1) == seeded(1)
    assert seeded(1)[0] != seeded(2)[0]


def test_status_counts_follow_the_weights_exactly():
    """Counts split by largest remainder add up to the requested number."""
    sim = Simulator(clock=VirtualClock())
    sim.seed("executions", 1000, statuses={"COMPLETED": 0.8, "RUNNING": 0.15, "DEAD": 0.05})

    counts = Counter(s.status for s in sim.states("executions").values())

    assert counts == {"COMPLETED": 800, "RUNNING": 150, "DEAD": 50}


def test_seeding_into_several_groups_and_kinds():
    """Each resource group and kind holds its own items."""
    sim = Simulator(clock=VirtualClock())
    a = sim.seed("executions", 10, resource_group="team-a")
    b = sim.seed("deployments", 5, resource_group="team-b", statuses={"RUNNING": 1})

    assert set(sim.states("executions", "team-a")) == set(a)
    assert set(sim.states("deployments", "team-b")) == set(b)
    assert sim.states("executions", "team-b") == {}


def test_seeded_properties_come_from_the_given_choices():
    """Scenarios, executables and ages come from the spec."""
    clock = VirtualClock()
    sim = Simulator(clock=clock)
    sim.seed(
        "executions",
        50,
        scenarios=("only-one",),
        executables=("exe-1", "exe-2"),
        min_age=3600,
        max_age=7200,
    )

    items = list(sim.store.scan("executions", "default"))

    assert {i.scenario_id for i in items} == {"only-one"}
    assert {i.executable_id for i in items} <= {"exe-1", "exe-2"}
    assert all(3600 <= clock.now - i.created_at <= 7200 for i in items)


def test_lifecycle_makes_running_items_change_over_time():
    """With a lifecycle, the chosen share of running items completes, dies or is stopped."""
    clock = VirtualClock()
    sim = Simulator(
        SimulatorConfig(
            lifecycle=Lifecycle(complete=0.5, die=0.25, stopped_by_others=0.25, within=10.0)
        ),
        clock=clock,
    )
    sim.seed("executions", 400, statuses={"RUNNING": 1})

    clock.advance(10.0)
    counts = Counter(s.status for s in sim.states("executions").values())

    assert counts["RUNNING"] == 0
    assert counts["COMPLETED"] > 150
    assert counts["DEAD"] > 60
    assert counts["STOPPING"] + counts["STOPPED"] > 60


@pytest.mark.parametrize(
    "kwargs",
    [{"statuses": {"DELETING": 1}}, {"statuses": {"RUNNING": 0}}, {"count": -1}],
    ids=["unknown-status", "all-zero", "negative-count"],
)
def test_bad_seed_specs_are_refused(kwargs):
    """Unknown statuses, all-zero weights and negative counts are refused."""
    sim = Simulator(clock=VirtualClock())
    count = kwargs.pop("count", 10)
    with pytest.raises(ValueError):  # noqa: PT011 - attrs' messages vary by validator
        sim.seed("executions", count, **kwargs)


def test_lifecycle_fractions_cannot_exceed_one():
    """A lifecycle whose fractions add up to more than 1 is refused."""
    with pytest.raises(ValueError, match="more than 1"):
        Lifecycle(complete=0.6, die=0.6)
