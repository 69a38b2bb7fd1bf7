"""The AI API's rules for stopping and deleting, as ``shared/CONTRACT.md`` states them.

Kept apart from the client's planner on purpose: the simulator encodes the contract itself,
so a test against it checks the client against the contract, not against its own reading.
"""

from __future__ import annotations

import re
from typing import Final, Literal

Kind = Literal["executions", "deployments"]
KINDS: Final[tuple[Kind, ...]] = ("executions", "deployments")

STATUSES: Final = ("PENDING", "RUNNING", "COMPLETED", "DEAD", "STOPPING", "STOPPED", "UNKNOWN")

#: The spec's ``AiId`` pattern.
ID_PATTERN: Final = re.compile(r"^[\w.-]{4,64}$", re.ASCII)

#: Bulk PATCH limits (``AiExecutionModificationRequestList``: minItems 1, maxItems 100).
MAX_BULK_ITEMS: Final = 100

STOPPABLE: Final = frozenset({"PENDING", "RUNNING"})
_DELETABLE: Final = {
    "executions": frozenset({"STOPPED", "DEAD", "UNKNOWN", "COMPLETED"}),
    "deployments": frozenset({"STOPPED", "DEAD", "UNKNOWN"}),
}

CODE_NOT_FOUND: Final = {"executions": "01010020", "deployments": "01010016"}
CODE_STATUS_CONFLICT: Final = "01010076"
CODE_BAD_REQUEST: Final = "01010001"
CODE_THROTTLED: Final = "01000429"
CODE_SERVER_ERROR: Final = "01000500"
CODE_BULK_DISABLED: Final = "01010099"
CODE_FORBIDDEN: Final = "01000403"
CODE_EXPIRED: Final = "01000410"

SINGULAR: Final = {"executions": "Execution", "deployments": "Deployment"}

#: What a new item aims for: executions run to completion, deployments keep serving.
INITIAL_TARGET: Final = {"executions": "COMPLETED", "deployments": "RUNNING"}


def may_stop(status: str) -> bool:
    """Only PENDING and RUNNING items can be stopped."""
    return status in STOPPABLE


def may_delete(kind: Kind, status: str) -> bool:
    """STOPPED, DEAD and UNKNOWN items can be deleted, and COMPLETED executions."""
    return status in _DELETABLE[kind]


def not_found_message(kind: Kind, item_id: str) -> str:
    """The message that goes with the per-kind not-found code."""
    return f"{SINGULAR[kind]} {item_id} not found"


def conflict_message(status: str) -> str:
    """The message that goes with ``01010076``."""
    return f"Current status {status} cannot be changed"
