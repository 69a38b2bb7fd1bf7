"""Every exception aicore-bulk raises on purpose.

::

    BulkError
    ├── InputError (also ValueError)        bad input, found before anything is sent
    │   └── ConfigurationError              missing or conflicting settings
    ├── ServiceError                        the service said no to the whole run
    │   └── AuthenticationError             the token endpoint refused the credentials
    │       └── AdminScopeError             the credentials may not list resource groups
    ├── RunDeclinedError                    a confirm callback said no: nothing was changed
    ├── JournalError                        the journal could not be written
    └── ItemsFailedError (in _report)       raised by Report.raise_for_failures()

Per-item failures are never exceptions: they are outcomes in the report.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the plan is a value of layer 0 too, and its module imports this one
    from aicore_bulk._report import Plan


class BulkError(Exception):
    """Base class of every error aicore-bulk raises on purpose."""


class InputError(BulkError, ValueError):
    """Bad input, found before a single request was sent."""


class ConfigurationError(InputError):
    """Settings are missing, malformed or in conflict."""


class ServiceError(BulkError):
    """The service refused the run as a whole (not a single item).

    Attributes:
        status: The HTTP status, when there was an answer.

    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class AuthenticationError(ServiceError):
    """The token endpoint refused the credentials, or the API refused every token."""


class AdminScopeError(AuthenticationError):
    """The credentials lack the admin scope that listing the tenant's resource groups needs.

    Nothing was changed. Name the groups instead (``ResourceGroups(names=...)``, or
    ``--resource-group`` repeated on the command line).
    """


class JournalError(BulkError):
    """The journal could not be written: the run stops (its report says so per item)."""


class RunDeclinedError(BulkError):
    """The ``confirm`` callback declined the plan; nothing was changed.

    Attributes:
        plan: The plan that was declined.

    """

    def __init__(self, message: str, *, plan: Plan) -> None:
        super().__init__(message)
        self.plan = plan
