"""local_databricks.project: what local Databricks prepares for a project, as a team prepares
a workspace (volumes, an all-purpose cluster)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from local_databricks import project


def write_pyproject(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "pyproject.toml"
    path.write_text(body)
    return path


def test_settings_come_from_the_pyproject_table(tmp_path: Path) -> None:
    path = write_pyproject(
        tmp_path, '[tool.local-databricks]\nvolumes = ["/Volumes/a/b/c"]\nwarm_spark = true\n'
    )
    assert project.ProjectSettings.from_pyproject(path) == project.ProjectSettings(
        volumes=("/Volumes/a/b/c",), warm_spark=True
    )
    assert project.ProjectSettings.from_pyproject(write_pyproject(tmp_path, "")) == (
        project.ProjectSettings()
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('auth_method = "pat"', "no longer reads auth_method"),
        ('volumes = ["/Volumes/main/x"]', "volumes entries are /Volumes/<catalog>/<schema>/"),
        ('require_volumes = "yes"', "require_volumes must be true or false"),
        ('warm_spark = "yes"', "warm_spark must be true or false"),
        ('cluster = "x"', "unknown [tool.local-databricks] keys: cluster"),
    ],
)
def test_bad_settings_say_what_is_wrong(tmp_path: Path, body: str, message: str) -> None:
    path = write_pyproject(tmp_path, f"[tool.local-databricks]\n{body}\n")
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        project.ProjectSettings.from_pyproject(path)


def test_setup_creates_volumes_and_the_cluster_through_the_api(tmp_path: Path) -> None:
    from databricks.sdk.service import compute
    from ld_helpers import make_client

    from local_databricks import LocalDatabricks

    path = write_pyproject(
        tmp_path,
        "[tool.local-databricks]\n"
        'volumes = ["/Volumes/main/sales/dagster_pipes", "/Volumes/dev/sales/landing"]\n'
        "require_volumes = true\n",
    )
    settings = project.ProjectSettings.from_pyproject(path)
    assert settings.volumes == ("/Volumes/main/sales/dagster_pipes", "/Volumes/dev/sales/landing")
    with LocalDatabricks(root=tmp_path / "server", require_volumes=True) as server:
        project.create_volumes(server, settings.volumes)
        project.create_volumes(server, settings.volumes)  # again: what exists stays
        cluster_id = project.create_cluster(server)
        w = make_client(server)
        assert [v.full_name for v in w.volumes.list("dev", "sales")] == ["dev.sales.landing"]
        assert w.volumes.read("main.sales.dagster_pipes").volume_type.value == "MANAGED"
        w.files.upload("/Volumes/main/sales/dagster_pipes/x.txt", io.BytesIO(b"ok"))
        cluster = w.clusters.get(cluster_id)
        assert cluster.cluster_source == compute.ClusterSource.API
        assert cluster.state == compute.State.RUNNING
        created = [c for c in server.calls() if c["path"].endswith("/clusters/create")]
        assert len(created) == 1 and all(c["status"] == 200 for c in created)
