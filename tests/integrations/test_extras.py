"""Without its extra, an integration says which one to install."""

from __future__ import annotations

import importlib.util

import pytest


@pytest.mark.skipif(
    importlib.util.find_spec("opentelemetry") is not None, reason="OpenTelemetry is installed"
)
def test_without_opentelemetry_the_otel_module_names_its_extra():
    """Importing the OpenTelemetry integration without the otel extra says what to install."""
    with pytest.raises(ImportError, match=r"pip install 'aicore-bulk\[otel\]'"):
        import aicore_bulk.integrations.otel  # noqa: F401, PLC0415
