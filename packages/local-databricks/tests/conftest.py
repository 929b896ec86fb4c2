"""Fixtures for the local-databricks conformance tests.

The `local_databricks` fixture itself comes from the package's pytest plugin (entry point
`local_databricks`); these add an SDK client and file helpers.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from databricks.sdk import WorkspaceClient
from ld_helpers import make_client, write_file


@pytest.fixture
def w(local_databricks) -> WorkspaceClient:
    """SDK client with PAT auth against the fixture server."""
    return make_client(local_databricks)


@pytest.fixture
def script(local_databricks):
    """Write a python file into DBFS and return its dbfs:/ path."""

    def _write(source: str, name: str = "script.py") -> str:
        return write_file(local_databricks, f"dbfs:/scripts/{name}", source)

    return _write


@pytest.fixture
def tmp_marker(tmp_path) -> Path:
    """A path a child process can write to, to report back to the test."""
    return tmp_path / "marker.txt"
