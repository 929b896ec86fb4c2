"""Maintained by the template; changes arrive with `copier update`.

Tests run offline: no Databricks variable from the developer's shell may leak in, nor one that
chooses the environment (Dagster+'s, brickpipes'): a test run is a development run.

The Databricks tests ask for the ``local_workspace`` fixture (brickpipes.testing): a local
stand-in for the Databricks REST API (local-databricks), with this project's auth variables
(``[tool.brickpipes]`` in pyproject.toml) pointing at it.
"""

import os

import pytest

pytest_plugins = ["brickpipes.testing"]

CREDENTIAL_PREFIXES = ("DATABRICKS_", "ARM_", "DAGSTER_CLOUD_", "BRICKPIPES_")


@pytest.fixture(autouse=True)
def _no_databricks_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(CREDENTIAL_PREFIXES):
            monkeypatch.delenv(name)
