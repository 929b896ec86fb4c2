"""Fixtures of the template's own suite."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from rendering import CREDENTIAL_PREFIXES, snapshot_template


@pytest.fixture(scope="session")
def template_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The template as a clean git repository tagged 99.0.0."""
    return snapshot_template(tmp_path_factory.mktemp("template"), "99.0.0")


@pytest.fixture(autouse=True)
def _no_databricks_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Generated projects must pass with no Databricks variable set."""
    for name in list(os.environ):
        if name.startswith(CREDENTIAL_PREFIXES):
            monkeypatch.delenv(name)
    yield
