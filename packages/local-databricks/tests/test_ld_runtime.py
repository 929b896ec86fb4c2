"""The task runtime: dbutils (global, pyspark.dbutils, databricks.sdk.runtime), widgets, secrets."""

import json
from datetime import timedelta

import pytest
from databricks.sdk.service import compute, jobs
from ld_helpers import raw, write_file

WAIT = timedelta(seconds=60)
CLUSTER = {"spark_version": "16.4.x-scala2.12", "node_type_id": "i3.xlarge", "num_workers": 0}

WIDGETS_NOTEBOOK = """# Databricks notebook source
import json
dbutils.widgets.text("fallback", "dflt")
# COMMAND ----------
dbutils.notebook.exit(json.dumps(dbutils.widgets.getAll(), sort_keys=True))
"""


def _output(w, run: jobs.Run, key: str = "t") -> jobs.RunOutput:
    task = next(t for t in run.tasks if t.task_key == key)
    return w.jobs.get_run_output(task.run_id)


def test_dbutils_everywhere_and_secrets(local_databricks, w, script):
    w.secrets.create_scope("app")
    w.secrets.put_secret("app", "password", string_value="s3cr3t-value")
    path = script(
        """
import builtins, json
from pyspark.dbutils import DBUtils
from databricks.sdk.runtime import dbutils as runtime_dbutils
from databricks.sdk import WorkspaceClient

mine = DBUtils(None)
result = {
    "global": dbutils.secrets.get("app", "password"),
    "pyspark": mine.secrets.get("app", "password") == "s3cr3t-value",
    "runtime": runtime_dbutils.secrets.getBytes("app", "password") == b"s3cr3t-value",
    "keys": [s.key for s in mine.secrets.list("app")],
    "scopes": [s.name for s in dbutils.secrets.listScopes()],
    "shared_widgets": mine.widgets is dbutils.widgets,
}
try:
    dbutils.secrets.get("app", "nope")
except Exception as exc:
    result["missing"] = f"{type(exc).__name__}: {exc}"
dbutils.fs.put("dbfs:/tmp/rt/a.txt", "hello", overwrite=True)
entry = dbutils.fs.ls("dbfs:/tmp/rt")[0]
result["ls"] = [entry.path, entry.name, entry.size]
result["head"] = dbutils.fs.head("dbfs:/tmp/rt/a.txt")
print(json.dumps(result))
"""
    )
    run = w.jobs.submit(
        tasks=[
            jobs.SubmitTask(
                task_key="t",
                environment_key="default",
                spark_python_task=jobs.SparkPythonTask(python_file=path),
            )
        ],
        environments=[
            jobs.JobEnvironment(environment_key="default", spec=compute.Environment(client="2"))
        ],
    ).result(timeout=WAIT)
    output = _output(w, run)
    assert run.state.result_state == jobs.RunResultState.SUCCESS, output.error_trace
    result = json.loads(output.logs)
    # the task read the value; its output shows it redacted, as on Databricks
    assert result == {
        "global": "[REDACTED]",
        "pyspark": True,
        "runtime": True,
        "keys": ["password"],
        "scopes": ["app"],
        "shared_widgets": True,
        "missing": (
            "IllegalArgumentException: Secret does not exist with scope: app and key: nope"
        ),
        "ls": ["dbfs:/tmp/rt/a.txt", "a.txt", 5],
        "head": "hello",
    }
    # neither the run output nor the call log holds the secret value the task read
    assert "s3cr3t-value" not in output.logs
    assert "s3cr3t-value" not in json.dumps(local_databricks.calls())


def test_task_token_ends_with_the_task(local_databricks, w, script, tmp_marker):
    path = script(
        f"""
import os
open({str(tmp_marker)!r}, "w").write(os.environ["LOCAL_DATABRICKS_API_TOKEN"])
"""
    )
    run = w.jobs.submit(
        tasks=[
            jobs.SubmitTask(
                task_key="t",
                new_cluster=compute.ClusterSpec.from_dict(CLUSTER),
                spark_python_task=jobs.SparkPythonTask(python_file=path),
            )
        ]
    ).result(timeout=WAIT)
    assert run.state.result_state == jobs.RunResultState.SUCCESS
    token = tmp_marker.read_text()
    assert token and token not in (local_databricks.token, local_databricks.admin_token)
    status, _, body = raw(local_databricks, "GET", "/api/2.0/secrets/scopes/list", token=token)
    assert status == 401 and body["error_code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize("compute_mode", ["new_cluster", "job_cluster", "existing", "serverless"])
def test_widgets_on_every_compute(local_databricks, w, compute_mode):
    write_file(local_databricks, "/Workspace/Shared/widgets.py", WIDGETS_NOTEBOOK)
    task = {
        "task_key": "t",
        "notebook_task": {
            "notebook_path": "/Shared/widgets",
            "base_parameters": {"greeting": "hi", "day": "{{job.parameters.day}}"},
        },
    }
    settings: dict = {"name": "widgets", "parameters": [{"name": "day", "default": "mon"}]}
    if compute_mode == "new_cluster":
        task["new_cluster"] = CLUSTER
    elif compute_mode == "job_cluster":
        task["job_cluster_key"] = "shared"
        settings["job_clusters"] = [{"job_cluster_key": "shared", "new_cluster": CLUSTER}]
    elif compute_mode == "existing":
        created = w.clusters.create(
            spark_version=CLUSTER["spark_version"], node_type_id="i3.xlarge", num_workers=0
        ).result(timeout=WAIT)
        task["existing_cluster_id"] = created.cluster_id
    else:
        task["environment_key"] = "default"
        settings["environments"] = [{"environment_key": "default", "spec": {"client": "2"}}]
    settings["tasks"] = [task]
    spec = jobs.JobSettings.from_dict(settings)
    job_id = w.jobs.create(
        name=spec.name,
        tasks=spec.tasks,
        job_clusters=spec.job_clusters,
        environments=spec.environments,
        parameters=spec.parameters,
    ).job_id
    run = w.jobs.run_now(job_id, job_parameters={"day": "tue"}).result(timeout=WAIT)
    output = _output(w, run)
    assert run.state.result_state == jobs.RunResultState.SUCCESS, output.error_trace
    assert json.loads(output.notebook_output.result) == {
        "day": "tue",
        "fallback": "dflt",
        "greeting": "hi",
    }


def test_pipes_writer_loop_is_shortened_in_tasks(w, script):
    """dagster-pipes' upload loop naps 50 ms in task processes; everything else is upstream's."""
    path = script(
        """
import time
import dagster_pipes
loop = dagster_pipes.PipesBlobStoreMessageWriterChannel._upload_loop
print(type(loop.__globals__["time"]).__name__, dagster_pipes.time is time)
"""
    )
    run = w.jobs.submit(
        tasks=[
            jobs.SubmitTask(
                task_key="t",
                new_cluster=compute.ClusterSpec.from_dict(CLUSTER),
                spark_python_task=jobs.SparkPythonTask(python_file=path),
            )
        ]
    ).result(timeout=WAIT)
    output = _output(w, run)
    assert run.state.result_state == jobs.RunResultState.SUCCESS, output.error_trace
    assert output.logs == "_FastLoopTime True\n"
