"""aicore-bulk: fast, safe bulk stop and delete for SAP AI Core.

Layers: a module imports only from its own layer and the layers below it
(``tests/test_layers.py`` holds every module to this table). ruff's banned-api rule (TID251)
keeps aiohttp in ``_transport`` and the simulator, and backoff in ``_retry``.

| layer | modules |
| --- | --- |
| 0 | vocabulary and values: ``_errors``, ``_checks``, ``_models``, ``_clock``, ``_report``, |
|   | ``_events``, ``_gc``, ``_version``, ``_logging`` (the ``aicore_bulk`` logger), |
|   | ``_groups`` (which resource groups a run spans) |
| 1 | pure logic and single concerns: ``_planner`` (decisions), ``_transitions`` (the |
|   | per-item state machine), ``_config``, ``_transport``, ``_retry``, ``_rate``, ``_auth``, |
|   | ``_window`` (requests in flight), ``_journal``, ``_caller`` (one request), ``_api`` |
|   | (the wire format) |
|   | ``_memory`` (the limits learned, kept between runs) |
| 2 | the parts of a run: ``_book`` (items and outcomes), ``_reads`` (every status read), |
|   | ``_routing``, ``_queue`` (the change queue), ``_stop_wait``, ``_selection``, |
|   | ``_dispatcher`` (sends the changes) |
| 3 | ``_intake``, ``_run`` (one run, in order), ``_fleet`` (one run across resource |
|   | groups, under one shared limit), ``_client`` (``BulkClient``), ``_sync`` |
| 4 | ``_cli`` (public API only), ``testing``; the simulator (``_simulator``) imports no |
|   | client code, only the clock |
|   | ``integrations`` (public API only; each needs its extra) |

Data flows one way: selection -> statuses -> routes -> changes -> per-item results ->
report; events flow out to listeners.

Importing ``aicore_bulk`` is cheap: each public name is imported from its module when it
is first used (PEP 562's module ``__getattr__``), so ``aicore-bulk --version`` pays for
neither aiohttp nor SQLite nor the simulator. Type checkers and the API reference read the
imports as written below.
"""

import importlib
from typing import TYPE_CHECKING

from aicore_bulk._version import __version__

if TYPE_CHECKING:
    from aicore_bulk._auth import Auth, ClientCredentials, StaticToken, X509Credentials
    from aicore_bulk._client import BulkClient
    from aicore_bulk._clock import Clock, SystemClock
    from aicore_bulk._errors import (
        AdminScopeError,
        AuthenticationError,
        BulkError,
        ConfigurationError,
        InputError,
        JournalError,
        RunDeclinedError,
        ServiceError,
    )
    from aicore_bulk._events import (
        Event,
        ItemSettled,
        Listener,
        PhaseDone,
        PlanReady,
        RequestAnswered,
        RequestSent,
    )
    from aicore_bulk._fleet import GroupSelection
    from aicore_bulk._groups import LabelMatch, ResourceGroups
    from aicore_bulk._journal import RunRecord, read_journal
    from aicore_bulk._models import (
        Kind,
        Limits,
        Outcome,
        Route,
        RunOptions,
        Status,
        Target,
        is_valid_id,
    )
    from aicore_bulk._report import (
        ItemResult,
        ItemsFailedError,
        KeptItem,
        Plan,
        PlannedItem,
        Report,
        RunInfo,
        RunSettings,
        Summary,
    )
    from aicore_bulk._retry import RetryPolicy
    from aicore_bulk._selection import Selection
    from aicore_bulk._sync import delete_sync, plan_sync, stop_sync
    from aicore_bulk._transport import (
        AiohttpTransport,
        MockTransport,
        Request,
        Response,
        Transport,
        TransportError,
    )
    from aicore_bulk._version import __version__

__all__ = [
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

#: Where each public name lives; ``__version__`` is imported at once (it costs nothing).
_HOMES: dict[str, str] = {
    "AdminScopeError": "aicore_bulk._errors",
    "AiohttpTransport": "aicore_bulk._transport",
    "Auth": "aicore_bulk._auth",
    "AuthenticationError": "aicore_bulk._errors",
    "BulkClient": "aicore_bulk._client",
    "BulkError": "aicore_bulk._errors",
    "ClientCredentials": "aicore_bulk._auth",
    "Clock": "aicore_bulk._clock",
    "ConfigurationError": "aicore_bulk._errors",
    "Event": "aicore_bulk._events",
    "GroupSelection": "aicore_bulk._fleet",
    "InputError": "aicore_bulk._errors",
    "ItemResult": "aicore_bulk._report",
    "ItemSettled": "aicore_bulk._events",
    "ItemsFailedError": "aicore_bulk._report",
    "JournalError": "aicore_bulk._errors",
    "KeptItem": "aicore_bulk._report",
    "Kind": "aicore_bulk._models",
    "LabelMatch": "aicore_bulk._groups",
    "Limits": "aicore_bulk._models",
    "Listener": "aicore_bulk._events",
    "MockTransport": "aicore_bulk._transport",
    "Outcome": "aicore_bulk._models",
    "PhaseDone": "aicore_bulk._events",
    "Plan": "aicore_bulk._report",
    "PlanReady": "aicore_bulk._events",
    "PlannedItem": "aicore_bulk._report",
    "Report": "aicore_bulk._report",
    "Request": "aicore_bulk._transport",
    "RequestAnswered": "aicore_bulk._events",
    "RequestSent": "aicore_bulk._events",
    "ResourceGroups": "aicore_bulk._groups",
    "Response": "aicore_bulk._transport",
    "RetryPolicy": "aicore_bulk._retry",
    "Route": "aicore_bulk._models",
    "RunDeclinedError": "aicore_bulk._errors",
    "RunInfo": "aicore_bulk._report",
    "RunOptions": "aicore_bulk._models",
    "RunRecord": "aicore_bulk._journal",
    "RunSettings": "aicore_bulk._report",
    "Selection": "aicore_bulk._selection",
    "ServiceError": "aicore_bulk._errors",
    "StaticToken": "aicore_bulk._auth",
    "Status": "aicore_bulk._models",
    "Summary": "aicore_bulk._report",
    "SystemClock": "aicore_bulk._clock",
    "Target": "aicore_bulk._models",
    "Transport": "aicore_bulk._transport",
    "TransportError": "aicore_bulk._transport",
    "X509Credentials": "aicore_bulk._auth",
    "delete_sync": "aicore_bulk._sync",
    "is_valid_id": "aicore_bulk._models",
    "plan_sync": "aicore_bulk._sync",
    "read_journal": "aicore_bulk._journal",
    "stop_sync": "aicore_bulk._sync",
    "__version__": "aicore_bulk._version",
}


def __getattr__(name: str) -> object:
    """Import a public name's module when the name is first used, and keep the name."""
    home = _HOMES.get(name)
    if home is None:
        message = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(message)
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
