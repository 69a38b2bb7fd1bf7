"""aicore-bulk: fast, safe bulk stop and delete for SAP AI Core.

Layers (a module imports only from layers below it; ruff's TID251 keeps aiohttp and backoff
where they belong):

| layer | modules |
| --- | --- |
| 0 | ``_errors``, ``_version`` |
| 4 | ``_cli``, ``testing`` (the simulator lives in ``_simulator`` and imports no client code) |
"""

from aicore_bulk._errors import (
    AuthenticationError,
    BulkError,
    ConfigurationError,
    InputError,
    ServiceError,
)
from aicore_bulk._version import __version__

__all__ = [
    "AuthenticationError",
    "BulkError",
    "ConfigurationError",
    "InputError",
    "ServiceError",
    "__version__",
]
