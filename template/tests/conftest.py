"""Tests run offline: no Databricks variable from the developer's shell may leak in."""

import os

import pytest

CREDENTIAL_PREFIXES = ("DATABRICKS_", "ARM_")


@pytest.fixture(autouse=True)
def _no_databricks_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(CREDENTIAL_PREFIXES):
            monkeypatch.delenv(name)
