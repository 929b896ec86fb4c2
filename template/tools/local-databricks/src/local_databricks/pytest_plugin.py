"""pytest plugin (entry point `local_databricks`): the `local_databricks` fixtures.

Imports nothing heavy at import time; the server is only imported when a fixture is used.
"""

from __future__ import annotations

import os

import pytest


@pytest.fixture
def local_databricks(tmp_path):
    """A started LocalDatabricks (root under tmp_path, no cluster start delay), stopped after."""
    from local_databricks import LocalDatabricks

    server = LocalDatabricks(root=tmp_path / "local-databricks", cluster_start_seconds=0.0)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def local_databricks_env(local_databricks, monkeypatch):
    """`local_databricks`, plus DATABRICKS_HOST/DATABRICKS_TOKEN set (other DATABRICKS_* unset)."""
    for name in list(os.environ):
        if name.startswith("DATABRICKS_"):
            monkeypatch.delenv(name, raising=False)
    for name, value in local_databricks.env("pat").items():
        monkeypatch.setenv(name, value)
    return local_databricks
