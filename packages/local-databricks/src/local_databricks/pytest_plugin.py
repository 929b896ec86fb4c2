"""pytest plugin (entry point ``local_databricks``): local Databricks fixtures.

- ``local_databricks``: a started server (root under ``tmp_path``, no cluster start delay).
- ``local_databricks_spark``: the test session's one local Spark (per xdist worker), started when
  a task or a test first needs it and shared by every server; each server drops the tables its
  tasks wrote when it stops. Mark the tests that use Spark ``xdist_group("local_spark")`` and
  run with ``--dist loadgroup`` so that they share one JVM.
- ``local_spark``: a SparkSession of its own on that Spark, for unit tests of remote code
  (the code's ``SparkSession.builder.getOrCreate()`` returns it); its tables go after the test.
- ``local_databricks_env``: the server, with ``DATABRICKS_HOST``/``DATABRICKS_TOKEN`` set.
- ``local_databricks_settings``: the project's ``[tool.local-databricks]`` (``pyproject.toml``
  next to pytest's rootdir; defaults where there is none).
- ``local_workspace``: the server, with the project's own auth variables pointed at it
  (``project.project_environment``: the project's ``volumes`` and, for ``existing-cluster``, an
  all-purpose cluster created through the REST API), Dagster's Pipes readers shortened and, for
  ``azure-client-secret``, the SDK authenticating with the server's token.

Imports nothing heavy at import time; the server is only imported when a fixture is used.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from .api import LocalDatabricks
    from .project import ProjectSettings
    from .shared_spark import SharedSpark


@pytest.fixture(scope="session")
def local_databricks_spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedSpark]:
    """One local Spark for the session's servers (its JVM starts on first use), stopped after."""
    from .shared_spark import SharedSpark

    spark = SharedSpark.standalone(tmp_path_factory.mktemp("local-spark"))
    try:
        yield spark
    finally:
        spark.stop()


@pytest.fixture
def local_spark(local_databricks_spark: SharedSpark) -> Iterator[SparkSession]:
    """A SparkSession of its own on the session's local Spark; its tables are dropped after."""
    import importlib.util

    from .executor import SHIM_SOURCE

    spec = importlib.util.spec_from_file_location(
        "local_databricks_spark_attach", SHIM_SOURCE / "spark_attach.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    gateway = local_databricks_spark.ensure()
    session = module.attach(gateway["port"], gateway["secret"])
    try:
        yield session
    finally:
        session.stop()
        local_databricks_spark.reset()


@pytest.fixture
def local_databricks(
    tmp_path: Path,
    local_databricks_settings: ProjectSettings,
    local_databricks_spark: SharedSpark,
) -> Iterator[LocalDatabricks]:
    """A started LocalDatabricks (root under tmp_path, no cluster start delay, the session's
    shared Spark), stopped after.

    With ``require_volumes = true`` in ``[tool.local-databricks]``, writes under /Volumes need an
    existing volume, as on the service (``local_workspace`` creates the project's ``volumes``).
    """
    from .api import LocalDatabricks

    server = LocalDatabricks(
        root=tmp_path / "local-databricks",
        cluster_start_seconds=0.0,
        require_volumes=local_databricks_settings.require_volumes,
        shared_spark=local_databricks_spark,
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _clear_credentials(monkeypatch: pytest.MonkeyPatch, prefixes: tuple[str, ...]) -> None:
    for name in list(os.environ):
        if name.startswith(prefixes):
            monkeypatch.delenv(name, raising=False)


@pytest.fixture
def local_databricks_env(
    local_databricks: LocalDatabricks, monkeypatch: pytest.MonkeyPatch
) -> LocalDatabricks:
    """`local_databricks`, plus DATABRICKS_HOST/DATABRICKS_TOKEN set (other DATABRICKS_* unset)."""
    _clear_credentials(monkeypatch, ("DATABRICKS_",))
    for name, value in local_databricks.env("pat").items():
        monkeypatch.setenv(name, value)
    return local_databricks


@pytest.fixture(scope="session")
def local_databricks_settings(pytestconfig: pytest.Config) -> ProjectSettings:
    """The project's ``[tool.local-databricks]`` settings."""
    from .project import ProjectSettings

    pyproject = Path(pytestconfig.rootpath) / "pyproject.toml"
    return ProjectSettings.from_pyproject(pyproject) if pyproject.is_file() else ProjectSettings()


@pytest.fixture
def local_workspace(
    local_databricks: LocalDatabricks,
    local_databricks_settings: ProjectSettings,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> LocalDatabricks:
    """Local Databricks, with the project's auth variables pointing at it (undone after)."""
    from .project import CREDENTIAL_PREFIXES, activate, project_environment

    _clear_credentials(monkeypatch, CREDENTIAL_PREFIXES)
    env = project_environment(local_databricks, local_databricks_settings, tmp_path)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    activate(env, monkeypatch.setattr)
    return local_databricks
