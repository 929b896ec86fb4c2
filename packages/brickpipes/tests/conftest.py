"""Tests run offline: no Databricks variable from the developer's shell may leak in.

The Databricks tests ask for ``local_workspace``: local Databricks (the ``local_databricks``
server of local-databricks' pytest plugin) with the Pipes volume created and the test
project's auth variables pointing at it. The project is :class:`sample_project.Project`;
a test varies it by parametrizing ``project``.
"""

import os
from pathlib import Path

import pytest
from local_databricks import LocalDatabricks
from local_databricks.project import ProjectSettings, create_volumes
from sample_project import PIPES_VOLUME, Project

# Imported by pytest, not here, so that pytest can rewrite its assertions.
pytest_plugins = ["brickpipes.testing"]


@pytest.fixture(autouse=True)
def _no_databricks_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from brickpipes.testing import CREDENTIAL_PREFIXES

    for name in list(os.environ):
        if name.startswith(CREDENTIAL_PREFIXES):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def local_databricks_settings() -> ProjectSettings:
    """As a project's ``[tool.local-databricks]``: writes under /Volumes need the volume."""
    return ProjectSettings(volumes=(PIPES_VOLUME,), require_volumes=True)


@pytest.fixture
def project() -> Project:
    """The project under test: PAT auth, a new job cluster per run, Pipes over a volume."""
    return Project()


@pytest.fixture
def local_workspace(
    local_databricks: LocalDatabricks,
    local_databricks_settings: ProjectSettings,
    project: Project,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> LocalDatabricks:
    """Local Databricks with the project's volume, and the project's auth variables (and, for
    existing-cluster, DATABRICKS_CLUSTER_ID) pointing at it; undone after."""
    from brickpipes.testing import LocalSettings, activate, local_environment

    create_volumes(local_databricks, local_databricks_settings.volumes)
    settings = LocalSettings(auth_method=project.auth_method, compute=project.compute)
    env = local_environment(local_databricks, settings, tmp_path)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    activate(env, monkeypatch.setattr)
    return local_databricks
