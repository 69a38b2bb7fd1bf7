"""Prefect and Airflow under test get temporary homes, set before either is first imported.

Both read their home when imported and write there at once (Airflow its config and logs,
Prefect its profiles), so this runs at collection, before the test modules import them.
Neither is installed in the main suite's venv: then nothing here happens.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import shutil
import sys
import tempfile
from pathlib import Path


def _temporary_home(name: str) -> Path:
    if name in sys.modules:
        raise RuntimeError(f"{name} was imported before its temporary home was set")
    home = Path(tempfile.mkdtemp(prefix=f"aicore-bulk-{name}-"))
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    return home


if importlib.util.find_spec("airflow") is not None:
    AIRFLOW_HOME = _temporary_home("airflow")
    os.environ.update(
        {
            "AIRFLOW_HOME": str(AIRFLOW_HOME),
            "AIRFLOW__CORE__DAGS_FOLDER": str(AIRFLOW_HOME / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{AIRFLOW_HOME}/airflow.db",
        }
    )

if importlib.util.find_spec("prefect") is not None:
    os.environ.update(
        {
            "PREFECT_HOME": str(_temporary_home("prefect")),
            # Offline and quiet: no usage reports from the test server or the client.
            "DO_NOT_TRACK": "1",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }
    )
