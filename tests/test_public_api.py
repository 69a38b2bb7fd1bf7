"""The public names are a contract: adding or removing one is a deliberate act."""

from __future__ import annotations

import aicore_bulk
import aicore_bulk.testing


def test_top_level_all_is_pinned():
    """aicore_bulk exports exactly these names."""
    assert aicore_bulk.__all__ == [
        "AdminScopeError",
        "AiohttpTransport",
        "Auth",
        "AuthenticationError",
        "BulkClient",
        "BulkError",
        "ClientCredentials",
        "Clock",
        "ConfigurationError",
        "Event",
        "GroupSelection",
        "InputError",
        "ItemResult",
        "ItemSettled",
        "ItemsFailedError",
        "JournalError",
        "KeptItem",
        "Kind",
        "LabelMatch",
        "Limits",
        "Listener",
        "MockTransport",
        "Outcome",
        "PhaseDone",
        "Plan",
        "PlanReady",
        "PlannedItem",
        "Report",
        "Request",
        "RequestAnswered",
        "RequestSent",
        "ResourceGroups",
        "Response",
        "RetryPolicy",
        "Route",
        "RunDeclinedError",
        "RunInfo",
        "RunOptions",
        "RunRecord",
        "RunSettings",
        "Selection",
        "ServiceError",
        "StaticToken",
        "Status",
        "Summary",
        "SystemClock",
        "Target",
        "Transport",
        "TransportError",
        "X509Credentials",
        "__version__",
        "delete_sync",
        "is_valid_id",
        "plan_sync",
        "read_journal",
        "stop_sync",
    ]


def test_testing_all_is_pinned():
    """aicore_bulk.testing exports exactly these names (constants first, as ruff sorts)."""
    assert aicore_bulk.testing.__all__ == [
        "DEFAULT_MIX",
        "Credentials",
        "Faults",
        "GroupStatistics",
        "ItemSnapshot",
        "Latency",
        "Lifecycle",
        "ResourceGroup",
        "RunningSimulator",
        "SeedSpec",
        "Simulator",
        "SimulatorConfig",
        "Statistics",
        "Violation",
        "VirtualClock",
        "build_app",
        "serve",
        "serve_in_thread",
        "serve_until_signal",
    ]


def test_every_public_name_is_documented():
    """Every exported class and function has a docstring (type aliases aside)."""
    for module in (aicore_bulk, aicore_bulk.testing):
        for name in module.__all__:
            obj = getattr(module, name)
            if name not in {"Event", "Kind", "Listener"} and callable(obj):
                assert obj.__doc__, f"{module.__name__}.{name}"


def test_secrets_stay_out_of_reprs():
    """The simulator's client secret does not appear in reprs of its config or credentials."""
    sim = aicore_bulk.testing.Simulator()

    for obj in (sim, sim.config, sim.credentials):
        assert sim.config.client_secret not in repr(obj)
