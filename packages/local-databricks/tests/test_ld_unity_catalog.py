"""Unity Catalog catalogs, schemas and volumes through the SDK, and require_volumes."""

from __future__ import annotations

import io
import subprocess
import sys
from datetime import timedelta

import pytest
from databricks.sdk.errors import InvalidParameterValue, InvalidState, NotFound, ResourceConflict
from databricks.sdk.service import catalog, jobs
from ld_helpers import assert_roundtrip, make_client, raw, write_file

from local_databricks import LocalDatabricks

UC = "/api/2.1/unity-catalog"


def test_catalog_lifecycle(local_databricks, w):
    created = w.catalogs.create(name="Sales", comment="c1", properties={"team": "data"})
    assert created.name == "sales"  # names are stored lower case, as on the service
    assert created.catalog_type == catalog.CatalogType.MANAGED_CATALOG
    status, _, body = raw(local_databricks, "GET", f"{UC}/catalogs/sales")
    assert status == 200
    assert_roundtrip(w.catalogs.get("sales"), body)
    assert body["properties"] == {"team": "data"}
    assert [c.name for c in w.catalogs.list()] == ["sales"]
    schemas = sorted(s.name for s in w.schemas.list(catalog_name="sales"))
    assert schemas == ["default", "information_schema"]
    updated = w.catalogs.update("sales", comment="c2", new_name="revenue")
    assert (updated.name, updated.comment) == ("revenue", "c2")
    with pytest.raises(NotFound, match="Catalog 'sales' does not exist"):
        w.catalogs.get("sales")
    with pytest.raises(ResourceConflict):
        w.catalogs.create(name="revenue")
    with pytest.raises(InvalidParameterValue, match="name"):
        w.catalogs.create(name="a.b")
    w.catalogs.delete("revenue")
    assert list(w.catalogs.list()) == []
    with pytest.raises(NotFound):
        w.catalogs.delete("revenue")


def test_schema_lifecycle(local_databricks, w):
    w.catalogs.create(name="main")
    schema = w.schemas.create(name="bronze", catalog_name="main", comment="raw data")
    assert schema.full_name == "main.bronze"
    _, _, body = raw(local_databricks, "GET", f"{UC}/schemas/main.bronze")
    assert_roundtrip(w.schemas.get("main.bronze"), body)
    assert body["catalog_name"] == "main"
    with pytest.raises(ResourceConflict, match="already exists"):
        w.schemas.create(name="bronze", catalog_name="main")
    with pytest.raises(NotFound, match="Catalog 'nope' does not exist"):
        w.schemas.create(name="x", catalog_name="nope")
    with pytest.raises(NotFound, match=r"Schema 'main\.nope' does not exist"):
        w.schemas.get("main.nope")
    renamed = w.schemas.update("main.bronze", new_name="silver", comment="clean")
    assert (renamed.full_name, renamed.comment) == ("main.silver", "clean")
    w.volumes.create("main", "silver", "files", catalog.VolumeType.MANAGED)
    with pytest.raises(InvalidState, match="not empty"):
        w.schemas.delete("main.silver")
    with pytest.raises(InvalidState, match="not empty"):
        w.catalogs.delete("main")
    w.schemas.delete("main.silver", force=True)
    assert sorted(s.name for s in w.schemas.list("main")) == ["default", "information_schema"]
    assert not (local_databricks.root / "Volumes" / "main" / "silver").exists()
    w.catalogs.delete("main")


def test_volume_lifecycle_and_files(local_databricks, w):
    w.catalogs.create(name="main")
    w.schemas.create(name="x", catalog_name="main")
    volume = w.volumes.create("main", "x", "landing", catalog.VolumeType.MANAGED, comment="in")
    assert volume.full_name == "main.x.landing"
    assert volume.volume_type == catalog.VolumeType.MANAGED
    _, _, body = raw(local_databricks, "GET", f"{UC}/volumes/main.x.landing")
    assert_roundtrip(w.volumes.read("main.x.landing"), body)
    assert [v.name for v in w.volumes.list(catalog_name="main", schema_name="x")] == ["landing"]
    w.files.upload("/Volumes/main/x/landing/a.txt", io.BytesIO(b"hello"))
    renamed = w.volumes.update("main.x.landing", new_name="raw")
    assert renamed.full_name == "main.x.raw"
    assert w.files.download("/Volumes/main/x/raw/a.txt").contents.read() == b"hello"
    with pytest.raises(NotFound, match=r"Volume 'main\.x\.landing' does not exist"):
        w.volumes.read("main.x.landing")
    with pytest.raises(InvalidParameterValue, match="storage_location"):
        w.volumes.create("main", "x", "ext", catalog.VolumeType.EXTERNAL)
    with pytest.raises(ResourceConflict):
        w.volumes.create("main", "x", "raw", catalog.VolumeType.MANAGED)
    with pytest.raises(NotFound, match=r"Schema 'main\.nope' does not exist"):
        w.volumes.create("main", "nope", "v", catalog.VolumeType.MANAGED)
    w.volumes.delete("main.x.raw")
    assert not (local_databricks.root / "Volumes" / "main" / "x" / "raw").exists()
    with pytest.raises(NotFound):
        w.volumes.delete("main.x.raw")


def test_list_pagination(local_databricks, w):
    for index in range(5):
        w.catalogs.create(name=f"c{index}")
    _, _, body = raw(local_databricks, "GET", f"{UC}/catalogs?max_results=2")
    assert [c["name"] for c in body["catalogs"]] == ["c0", "c1"]
    assert body["next_page_token"]
    assert [c.name for c in w.catalogs.list(max_results=2)] == [f"c{i}" for i in range(5)]


def test_volumes_are_implicit_by_default(local_databricks, w):
    w.files.upload("/Volumes/any/where/v/f.txt", io.BytesIO(b"x"))
    assert w.files.download("/Volumes/any/where/v/f.txt").contents.read() == b"x"


def test_require_volumes(tmp_path):
    with LocalDatabricks(
        root=tmp_path / "r", require_volumes=True, volumes=["/Volumes/main/x/dagster_pipes"]
    ) as ld:
        w = make_client(ld)
        assert w.volumes.read("main.x.dagster_pipes").volume_type == catalog.VolumeType.MANAGED
        w.files.upload("/Volumes/main/x/dagster_pipes/ok.txt", io.BytesIO(b"ok"))
        with pytest.raises(NotFound, match=r"Volume 'main\.x\.missing' does not exist"):
            w.files.upload("/Volumes/main/x/missing/f.txt", io.BytesIO(b"no"))
        with pytest.raises(NotFound, match="Catalog 'nope' does not exist"):
            w.files.create_directory("/Volumes/nope/x/v/d")
        with pytest.raises(NotFound, match=r"Schema 'main\.y' does not exist"):
            w.files.download("/Volumes/main/y/v/f.txt")
        assert not (ld.root / "Volumes" / "main" / "x" / "missing").exists()
        info = ld.create_volume("/Volumes/other/s/v")
        assert info["full_name"] == "other.s.v"
        assert ld.create_volume("/Volumes/other/s/v")["volume_id"] == info["volume_id"]
        w.files.upload("/Volumes/other/s/v/f.txt", io.BytesIO(b"now"))
        # the task processes' /Volumes shim enforces it too
        script = write_file(
            ld,
            "dbfs:/vol.py",
            """
            import sys
            open("/Volumes/main/x/dagster_pipes/from_task.txt", "w").write("ok")
            try:
                open("/Volumes/main/x/missing/f.txt", "w").write("no")
            except FileNotFoundError as exc:
                print("refused:", exc)
            else:
                sys.exit(3)
            """,
        )
        run = w.jobs.submit(
            run_name="vol",
            tasks=[
                jobs.SubmitTask(
                    task_key="t",
                    environment_key="e",
                    spark_python_task=jobs.SparkPythonTask(python_file=script),
                )
            ],
            environments=[jobs.JobEnvironment(environment_key="e")],
        ).result(timeout=timedelta(seconds=60))
        output = w.jobs.get_run_output(run.tasks[0].run_id)
        assert run.state.result_state == jobs.RunResultState.SUCCESS, output.error_trace
        assert "Volume 'main.x.missing' does not exist" in output.logs
        assert (ld.root / "Volumes/main/x/dagster_pipes/from_task.txt").read_text() == "ok"
        # reset keeps only the configured volumes
        ld.reset()
        assert [v.name for v in w.volumes.list("main", "x")] == ["dagster_pipes"]
        with pytest.raises(NotFound):
            w.volumes.read("other.s.v")


def test_cli_volume_flags(tmp_path):
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "local_databricks",
            "--root",
            str(tmp_path / "cli"),
            "--volume",
            "/Volumes/main/x/dagster_pipes",
            "--volume",
            "/Volumes/main/y/other",
            "--require-volumes",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = dict(
            line.strip().split("=", 1)
            for line in (process.stdout.readline() for _ in range(7))
            if "=" in line
        )

        class Server:
            url = lines["DATABRICKS_HOST"]
            token = lines["DATABRICKS_TOKEN"]

        w = make_client(Server)
        assert {v.full_name for v in w.volumes.list("main", "x")} == {"main.x.dagster_pipes"}
        assert w.volumes.read("main.y.other").name == "other"
        with pytest.raises(NotFound):
            w.files.upload("/Volumes/main/x/nope/f", io.BytesIO(b""))
    finally:
        process.terminate()
        process.wait(10)
    bad = subprocess.run(
        [sys.executable, "-m", "local_databricks", "--volume", "/Volumes/a"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "--volume" in bad.stderr
