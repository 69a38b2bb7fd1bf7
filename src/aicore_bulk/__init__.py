"""aicore-bulk: fast, safe bulk stop and delete for SAP AI Core.

Layers: a module imports only from layers below it. ruff's banned-api rule (TID251) keeps
aiohttp in ``_transport`` and the simulator, and backoff in ``_retry``.

| layer | modules |
| --- | --- |
| 0 | ``_errors``, ``_models``, ``_report``, ``_events``, ``_version`` |
| 1 | ``_config``, ``_transport``, ``_retry``, ``_rate``, ``_auth``, ``_journal`` |
| 1b | ``_caller`` (one request: token, pacing, retries), ``_api`` (wire format), ``_planner`` |
| 1c | ``_selection`` (choosing items through the list endpoint) |
| 2 | ``_engine`` (the dispatcher) |
| 3 | ``_client`` (``BulkClient``), ``_sync`` |
| 4 | ``_cli``, ``testing`` (the simulator lives in ``_simulator`` and imports no client code) |
"""

from aicore_bulk._auth import Auth, ClientCredentials, StaticToken, X509Credentials
from aicore_bulk._client import BulkClient, Plan, PlannedItem
from aicore_bulk._errors import (
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
from aicore_bulk._models import Limits, Outcome, Status, Target
from aicore_bulk._planner import Path
from aicore_bulk._report import ItemResult, ItemsFailedError, Report, Summary
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
    "AiohttpTransport",
    "Auth",
    "AuthenticationError",
    "BulkClient",
    "BulkError",
    "ClientCredentials",
    "ConfigurationError",
    "Event",
    "InputError",
    "ItemResult",
    "ItemSettled",
    "ItemsFailedError",
    "JournalError",
    "Limits",
    "Listener",
    "MockTransport",
    "Outcome",
    "Path",
    "PhaseDone",
    "Plan",
    "PlanReady",
    "PlannedItem",
    "Report",
    "Request",
    "RequestAnswered",
    "RequestSent",
    "Response",
    "RetryPolicy",
    "RunDeclinedError",
    "Selection",
    "ServiceError",
    "StaticToken",
    "Status",
    "Summary",
    "Target",
    "Transport",
    "TransportError",
    "X509Credentials",
    "__version__",
    "delete_sync",
    "plan_sync",
    "stop_sync",
]
