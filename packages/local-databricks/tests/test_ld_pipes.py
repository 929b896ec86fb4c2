"""Real dagster Pipes round trips (dagster-databricks 0.29.27) against local-databricks.

dagster-databricks caps databricks-sdk below 0.61: these run in the template's `sdk_oldest`
nox session, where it is installed, and skip elsewhere.
"""

import dagster as dg
import pytest

pytest.importorskip(
    "dagster_databricks", reason="dagster-databricks is installed in the sdk_oldest session only"
)
from dagster_databricks import PipesDatabricksClient, PipesDbfsMessageReader
from dagster_databricks.pipes import (
    PipesDatabricksServerlessClient,
    PipesUnityCatalogVolumesContextInjector,
    PipesUnityCatalogVolumesMessageReader,
)
from databricks.sdk.service import compute, jobs
from ld_helpers import make_client, write_file

DBFS_SCRIPT = """
from dagster_pipes import (
    PipesDbfsContextLoader, PipesDbfsMessageWriter, PipesEnvVarParamsLoader,
    PipesCliArgsParamsLoader, open_dagster_pipes,
)
import sys
cli = "--dagster-pipes-context" in sys.argv
loader = PipesCliArgsParamsLoader() if cli else PipesEnvVarParamsLoader()
with open_dagster_pipes(
    context_loader=PipesDbfsContextLoader(),
    message_writer=PipesDbfsMessageWriter(interval=0.2),
    params_loader=loader,
) as pipes:
    multiplier = pipes.get_extra("multiplier")
    pipes.log.info("hello from the cluster")
    pipes.report_asset_materialization(metadata={"value": 2 * multiplier, "row_count": 42})
"""

VOLUME_SCRIPT = """
import sys
from dagster_pipes import (
    PipesUnityCatalogVolumesContextLoader, PipesUnityCatalogVolumesMessageWriter,
    PipesCliArgsParamsLoader, PipesEnvVarParamsLoader, open_dagster_pipes,
)
cli = "--dagster-pipes-context" in sys.argv
loader = PipesCliArgsParamsLoader() if cli else PipesEnvVarParamsLoader()
with open_dagster_pipes(
    context_loader=PipesUnityCatalogVolumesContextLoader(),
    message_writer=PipesUnityCatalogVolumesMessageWriter(interval=0.2),
    params_loader=loader,
) as pipes:
    if pipes.extras.get("fail"):
        raise ValueError("remote boom")
    pipes.report_asset_materialization(metadata={"value": pipes.get_extra("multiplier") * 3})
"""

CLUSTER = compute.ClusterSpec(
    spark_version="16.4.x-scala2.12", node_type_id="i3.xlarge", num_workers=0
)
VOLUME = "/Volumes/main/default/pipes"


def _materialize(asset_fn, resources=None):
    return dg.materialize([asset_fn], resources=resources or {}, raise_on_error=False)


def _metadata(result, key="number"):
    mats = result.asset_materializations_for_node(key)
    assert mats, "no materialization reported"
    return {k: v.value for k, v in mats[-1].metadata.items()}


def test_pipes_new_cluster_dbfs(local_databricks):
    w = make_client(local_databricks)
    write_file(local_databricks, "dbfs:/pipes/script.py", DBFS_SCRIPT)

    @dg.asset
    def number(context: dg.AssetExecutionContext):
        client = PipesDatabricksClient(
            client=w,
            message_reader=PipesDbfsMessageReader(client=w, interval=0.2),
            poll_interval_seconds=0.2,
        )
        task = jobs.SubmitTask.from_dict(
            {
                "task_key": "number",
                "new_cluster": CLUSTER.as_dict(),
                "spark_python_task": {"python_file": "dbfs:/pipes/script.py"},
            }
        )
        return client.run(context=context, task=task, extras={"multiplier": 2}).get_results()

    result = _materialize(number)
    assert result.success
    metadata = _metadata(result)
    assert metadata["value"] == 4
    assert metadata["row_count"] == 42
    assert metadata["Databricks Job Run URL"].startswith(local_databricks.url)
    # The temp dirs of the injector and reader were cleaned up.
    assert not any((local_databricks.root / "dbfs" / "tmp").iterdir())


def test_pipes_new_cluster_volumes(local_databricks):
    w = make_client(local_databricks)
    write_file(local_databricks, f"{VOLUME}/script.py", VOLUME_SCRIPT)

    @dg.asset
    def number(context: dg.AssetExecutionContext):
        client = PipesDatabricksClient(
            client=w,
            context_injector=PipesUnityCatalogVolumesContextInjector(client=w, volume_path=VOLUME),
            message_reader=PipesUnityCatalogVolumesMessageReader(
                client=w, volume_path=VOLUME, interval=0.2, include_stdio_in_messages=False
            ),
            poll_interval_seconds=0.2,
        )
        task = jobs.SubmitTask.from_dict(
            {
                "task_key": "number",
                "new_cluster": CLUSTER.as_dict(),
                "spark_python_task": {"python_file": f"{VOLUME}/script.py"},
            }
        )
        return client.run(context=context, task=task, extras={"multiplier": 5}).get_results()

    result = _materialize(number)
    assert result.success
    assert _metadata(result)["value"] == 15


def test_pipes_existing_cluster_cli_args(local_databricks):
    w = make_client(local_databricks)
    local_databricks.add_cluster("0101-000000-existing")
    write_file(local_databricks, "dbfs:/pipes/script.py", DBFS_SCRIPT)

    @dg.asset
    def number(context: dg.AssetExecutionContext):
        client = PipesDatabricksClient(
            client=w,
            message_reader=PipesDbfsMessageReader(client=w, interval=0.2),
            poll_interval_seconds=0.2,
        )
        task = jobs.SubmitTask.from_dict(
            {
                "task_key": "number",
                "existing_cluster_id": "0101-000000-existing",
                "spark_python_task": {"python_file": "dbfs:/pipes/script.py"},
            }
        )
        return client.run(context=context, task=task, extras={"multiplier": 7}).get_results()

    result = _materialize(number)
    assert result.success
    assert _metadata(result)["value"] == 14
    submit = next(c for c in local_databricks.calls() if c["path"].endswith("runs/submit"))
    assert (
        "--dagster-pipes-context" in submit["body"]["tasks"][0]["spark_python_task"]["parameters"]
    )


def _serverless_asset(w, fail: bool):
    @dg.asset
    def number(context: dg.AssetExecutionContext):
        client = PipesDatabricksServerlessClient(
            client=w,
            volume_path=VOLUME,
            message_reader=PipesUnityCatalogVolumesMessageReader(
                client=w, volume_path=VOLUME, interval=0.2, include_stdio_in_messages=False
            ),
            poll_interval_seconds=0.2,
        )
        task = jobs.SubmitTask.from_dict(
            {
                "task_key": "number",
                "environment_key": "default",
                "spark_python_task": {"python_file": f"{VOLUME}/script.py"},
            }
        )
        env = jobs.JobEnvironment(
            environment_key="default",
            spec=compute.Environment(client="2", dependencies=["dagster-pipes"]),
        )
        return client.run(
            context=context,
            task=task,
            extras={"multiplier": 4, "fail": fail},
            submit_args={"environments": [env]},
        ).get_results()

    return number


def test_pipes_serverless(local_databricks):
    w = make_client(local_databricks)
    write_file(local_databricks, f"{VOLUME}/script.py", VOLUME_SCRIPT)
    result = _materialize(_serverless_asset(w, fail=False))
    assert result.success
    assert _metadata(result)["value"] == 12
    run = local_databricks.runs()[0]
    assert "cluster_instance" not in run["tasks"][0]  # serverless: no cluster


def test_pipes_remote_failure(local_databricks):
    w = make_client(local_databricks)
    write_file(local_databricks, f"{VOLUME}/script.py", VOLUME_SCRIPT)
    result = _materialize(_serverless_asset(w, fail=True))
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    text = str(failure.event_specific_data.error)
    assert "Error running Databricks job" in text
    assert "Task number failed" in text
    run = local_databricks.runs()[0]
    assert run["state"]["result_state"] == "FAILED"
    output = w.jobs.get_run_output(run["tasks"][0]["run_id"])
    assert output.error == "ValueError: remote boom"
