"""pytest plugin (entry point ``local_databricks``): local Databricks fixtures.

- ``local_databricks``: a started server (root under ``tmp_path``, no cluster start delay).
- ``local_databricks_spark``: the test session's one local Spark, started when a task or a test
  first needs it and shared by every server; each server drops the tables its tasks wrote when
  it stops. With ``warm_spark = true`` in ``[tool.local-databricks]``, the process that starts
  the session (pytest-xdist's controller) starts it in the background at once and every worker
  attaches to it (``LOCAL_DATABRICKS_SESSION_SPARK``: its state file). Mark the tests that use
  Spark ``xdist_group("local_spark")`` and run with ``--dist loadgroup``, so that they run one
  at a time on one worker: they share one catalog.
- ``local_spark``: a SparkSession of its own on that Spark, for unit tests of remote code
  (the code's ``SparkSession.builder.getOrCreate()`` returns it); its tables go after the test.
- ``local_databricks_env``: the server, with ``DATABRICKS_HOST``/``DATABRICKS_TOKEN`` set.
- ``local_databricks_settings``: the project's ``[tool.local-databricks]`` (``pyproject.toml``
  next to pytest's rootdir; defaults where there is none).
A project's own wiring (its auth variables pointed at the server, fast polling) is its runtime's
fixture, built on ``local_databricks`` (``local_workspace`` of brickpipes.testing).

Imports nothing heavy at import time; the server is only imported when a fixture is used.
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from .api import LocalDatabricks
    from .project import ProjectSettings
    from .shared_spark import AttachedSpark, SharedSpark

# The state file of the session's Spark, for the session's other processes (AttachedSpark).
SESSION_SPARK = "LOCAL_DATABRICKS_SESSION_SPARK"
_OWNED_SPARK = pytest.StashKey[tuple]()


def _settings(config: pytest.Config) -> ProjectSettings:
    from .project import ProjectSettings

    pyproject = Path(config.rootpath) / "pyproject.toml"
    return ProjectSettings.from_pyproject(pyproject) if pyproject.is_file() else ProjectSettings()


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """With ``warm_spark``: the process that starts the session starts its Spark in the
    background, before pytest-xdist starts the workers that attach to it."""
    config = session.config
    if hasattr(config, "workerinput") or os.environ.get(SESSION_SPARK):
        return
    try:
        warm = _settings(config).warm_spark
    except ValueError:
        return  # the local_databricks_settings fixture reports it
    if not warm:
        return
    from .shared_spark import SharedSpark

    root = Path(tempfile.mkdtemp(prefix="local-databricks-spark-"))
    spark = SharedSpark.standalone(root)
    state = root / "state.json"
    starting = threading.Thread(target=spark.publish, args=(state,), daemon=True)
    starting.start()
    config.stash[_OWNED_SPARK] = (spark, root, starting)
    os.environ[SESSION_SPARK] = str(state)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop the Spark ``pytest_sessionstart`` started (after its start, if still starting)."""
    owned = config.stash.get(_OWNED_SPARK, None)
    if owned is None:
        return
    spark, root, starting = owned
    starting.join()
    spark.stop()
    shutil.rmtree(root, ignore_errors=True)
    os.environ.pop(SESSION_SPARK, None)


@pytest.fixture(scope="session")
def local_databricks_spark(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[SharedSpark | AttachedSpark]:
    """One local Spark for the session's servers (its JVM starts on first use unless
    ``warm_spark`` started it with the session), stopped after."""
    from .shared_spark import AttachedSpark, SharedSpark

    if os.environ.get(SESSION_SPARK):
        yield AttachedSpark(Path(os.environ[SESSION_SPARK]))
        return
    spark = SharedSpark.standalone(tmp_path_factory.mktemp("local-spark"))
    try:
        yield spark
    finally:
        spark.stop()


@functools.cache
def _spark_attach() -> Any:
    """The shim's spark_attach module (what tasks attach with), loaded once by path: the shim
    is not a package of its own."""
    import importlib.util

    from .executor import SHIM_SOURCE

    spec = importlib.util.spec_from_file_location(
        "local_databricks_spark_attach", SHIM_SOURCE / "spark_attach.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def local_spark(local_databricks_spark: SharedSpark | AttachedSpark) -> Iterator[SparkSession]:
    """A SparkSession of its own on the session's local Spark; its tables are dropped after."""
    gateway = local_databricks_spark.ensure()
    session = _spark_attach().attach(gateway["port"], gateway["secret"])
    try:
        yield session
    finally:
        session.stop()
        local_databricks_spark.reset()


@pytest.fixture
def local_databricks(
    tmp_path: Path,
    local_databricks_settings: ProjectSettings,
    local_databricks_spark: SharedSpark | AttachedSpark,
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
    return _settings(pytestconfig)
