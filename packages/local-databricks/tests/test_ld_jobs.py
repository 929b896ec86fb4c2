"""Jobs and runs through the SDK's own methods: lifecycle, outputs, DAGs, faults."""

import os
import time

import pytest
from databricks.sdk.errors import InvalidParameterValue, ResourceDoesNotExist
from databricks.sdk.errors.platform import BadRequest
from databricks.sdk.service import compute, jobs
from ld_helpers import assert_roundtrip, make_client, raw, write_file

CLUSTER = {"spark_version": "16.4.x-scala2.12", "node_type_id": "i3.xlarge", "num_workers": 0}


def python_task(key, path, **extra):
    """A SubmitTask running `path` on a new cluster."""
    body = {"task_key": key, "new_cluster": CLUSTER, "spark_python_task": {"python_file": path}}
    body.update(extra)
    return jobs.SubmitTask.from_dict(body)


def test_submit_get_output_and_roundtrip(local_databricks, w, script):
    path = script("import sys\nprint('args', sys.argv[1:])\n")
    task = python_task("main", path)
    task.spark_python_task.parameters = ["x", "y"]
    run = w.jobs.submit(run_name="hello", tasks=[task]).result()
    assert run.state.life_cycle_state == jobs.RunLifeCycleState.TERMINATED
    assert run.state.result_state == jobs.RunResultState.SUCCESS
    assert run.status.termination_details.code == jobs.TerminationCodeCode.SUCCESS
    assert run.run_page_url == (
        f"{local_databricks.url}/?o={local_databricks.workspace_id}#job/{run.job_id}/run/{run.run_id}"
    )
    assert run.tasks[0].cluster_instance.cluster_id
    status, headers, body = raw(
        local_databricks, "GET", f"/api/2.2/jobs/runs/get?run_id={run.run_id}"
    )
    assert status == 200
    assert headers["x-databricks-org-id"] == local_databricks.workspace_id
    assert "next_page_token" not in body
    assert_roundtrip(jobs.Run.from_dict(body), body)

    task_run_id = run.tasks[0].run_id
    output = w.jobs.get_run_output(task_run_id)
    assert output.logs == "args ['x', 'y']\n"
    assert output.error is None
    _, _, raw_output = raw(
        local_databricks, "GET", f"/api/2.2/jobs/runs/get-output?run_id={task_run_id}"
    )
    assert_roundtrip(jobs.RunOutput.from_dict(raw_output), raw_output)
    # a task run id works with runs/get too
    assert w.jobs.get_run(task_run_id).tasks[0].task_key == "main"


def test_unknown_run_and_job(w):
    with pytest.raises(ResourceDoesNotExist, match="Run 123 does not exist"):
        w.jobs.get_run(123)
    with pytest.raises(ResourceDoesNotExist, match="Job 77 does not exist"):
        w.jobs.get(77)
    # the SDK's override for jobs/runs/get* covers get-output too
    with pytest.raises(ResourceDoesNotExist):
        w.jobs.get_run_output(123)


def test_failed_script_error_and_trace(w, script):
    path = script("print('before')\nraise RuntimeError('kaboom')\n")
    run = w.jobs.submit(tasks=[python_task("main", path)]).result()
    assert run.state.result_state == jobs.RunResultState.FAILED
    assert run.state.state_message == (
        "Task main failed with message: Workload failed, see run output for details."
    )
    output = w.jobs.get_run_output(run.tasks[0].run_id)
    assert output.error == "RuntimeError: kaboom"
    assert "Traceback" in output.error_trace
    assert output.logs == "before\n"


def test_missing_python_file(w):
    run = w.jobs.submit(tasks=[python_task("main", "dbfs:/nope.py")]).result()
    assert run.state.result_state == jobs.RunResultState.FAILED
    assert "Cannot read the python file dbfs:/nope.py" in run.state.state_message


def test_idempotency_token(local_databricks, w, script):
    path = script("print(1)\n")
    first = w.jobs.submit(tasks=[python_task("main", path)], idempotency_token="tok-1").bind()
    second = w.jobs.submit(tasks=[python_task("main", path)], idempotency_token="tok-1").bind()
    assert first["run_id"] == second["run_id"]
    assert len(local_databricks.runs()) == 1


def test_timeout_kills_process(local_databricks, w, script, tmp_marker):
    path = script(
        f"import os, time\nopen({str(tmp_marker)!r}, 'w').write(str(os.getpid()))\ntime.sleep(60)\n"
    )
    run = w.jobs.submit(tasks=[python_task("main", path)], timeout_seconds=1).result()
    assert run.state.result_state == jobs.RunResultState.TIMEDOUT
    assert run.state.user_cancelled_or_timedout
    pid = int(tmp_marker.read_text())
    _assert_gone(pid)


def _assert_gone(pid):
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    pytest.fail(f"process {pid} is still alive")


def test_cancel_kills_process_tree(local_databricks, w, script, tmp_marker):
    path = script(
        f"""
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
open({str(tmp_marker)!r}, "w").write(f"{{os.getpid()}} {{child.pid}}")
time.sleep(60)
"""
    )
    run_id = w.jobs.submit(tasks=[python_task("main", path)]).bind()["run_id"]
    deadline = time.monotonic() + 10
    while not (tmp_marker.exists() and " " in tmp_marker.read_text()):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert w.jobs.get_run(run_id).state.life_cycle_state == jobs.RunLifeCycleState.RUNNING
    run = w.jobs.cancel_run(run_id).result()
    assert run.state.result_state == jobs.RunResultState.CANCELED
    assert run.status.termination_details.code == jobs.TerminationCodeCode.USER_CANCELED
    for pid in tmp_marker.read_text().split():
        _assert_gone(int(pid))


def test_list_runs_and_delete(local_databricks, w, script):
    path = script("print(1)\n")
    ids = [w.jobs.submit(tasks=[python_task("main", path)]).result().run_id for _ in range(3)]
    listed = [r.run_id for r in w.jobs.list_runs(completed_only=True)]
    assert listed == list(reversed(ids))
    _, _, page = raw(local_databricks, "GET", "/api/2.2/jobs/runs/list?limit=2")
    assert page["has_more"] is True and "next_page_token" in page
    assert len(list(w.jobs.list_runs(limit=1))) == 3  # the SDK follows next_page_token
    _, _, last = raw(local_databricks, "GET", "/api/2.2/jobs/runs/list?limit=25")
    assert "next_page_token" not in last
    w.jobs.delete_run(ids[0])
    with pytest.raises(ResourceDoesNotExist):
        w.jobs.get_run(ids[0])


def test_multi_task_job_dag(local_databricks, w, script):
    ok = script("print('ok')\n", "ok.py")
    bad = script("raise SystemExit(3)\n", "bad.py")
    job_cluster = [{"job_cluster_key": "shared", "new_cluster": CLUSTER}]
    settings = {
        "name": "dag",
        "job_clusters": job_cluster,
        "tasks": [
            {
                "task_key": "a",
                "job_cluster_key": "shared",
                "spark_python_task": {"python_file": ok},
            },
            {
                "task_key": "b",
                "job_cluster_key": "shared",
                "depends_on": [{"task_key": "a"}],
                "spark_python_task": {"python_file": bad},
            },
            {
                "task_key": "c",
                "job_cluster_key": "shared",
                "depends_on": [{"task_key": "b"}],
                "spark_python_task": {"python_file": ok},
            },
            {
                "task_key": "d",
                "job_cluster_key": "shared",
                "depends_on": [{"task_key": "b"}],
                "run_if": "ALL_DONE",
                "spark_python_task": {"python_file": ok},
            },
        ],
    }
    job_id = w.jobs.create(**jobs.JobSettings.from_dict(settings).as_shallow_dict()).job_id
    job = w.jobs.get(job_id)
    assert job.settings.name == "dag"
    _, _, raw_job = raw(local_databricks, "GET", f"/api/2.2/jobs/get?job_id={job_id}")
    assert_roundtrip(jobs.Job.from_dict(raw_job), raw_job)
    assert [j.job_id for j in w.jobs.list()] == [job_id]

    run = w.jobs.run_now(job_id).result()
    states = {t.task_key: t.state.result_state.value for t in run.tasks}
    assert states == {"a": "SUCCESS", "b": "FAILED", "c": "UPSTREAM_FAILED", "d": "SUCCESS"}
    assert run.state.result_state == jobs.RunResultState.FAILED
    assert run.run_type == jobs.RunType.JOB_RUN
    # one job cluster for all four tasks
    assert len({t.cluster_instance.cluster_id for t in run.tasks if t.cluster_instance}) == 1
    with pytest.raises(BadRequest, match="multiple tasks is not supported"):
        w.jobs.get_run_output(run.run_id)

    # `only` the leaf d after a failing b: SUCCESS_WITH_FAILURES needs b to fail but d to pass
    run = w.jobs.run_now(job_id, only=["b", "d"]).result()
    assert run.state.result_state == jobs.RunResultState.SUCCESS_WITH_FAILURES
    w.jobs.delete(job_id)
    assert list(w.jobs.list()) == []


def test_job_parameters_and_notebook_widgets(local_databricks, w):
    write_file(
        local_databricks,
        "/Workspace/Shared/nb.py",
        """\
        # Databricks notebook source
        # MAGIC %md a markdown cell
        greeting = dbutils.widgets.get("greeting")
        # COMMAND ----------
        dbutils.widgets.text("fallback", "dflt")
        print("printed", greeting)
        dbutils.notebook.exit(greeting + "/" + dbutils.widgets.get("fallback"))
        raise RuntimeError("never reached")
        """,
    )
    job_id = local_databricks.create_job(
        {
            "name": "nb",
            "parameters": [{"name": "greeting", "default": "hi"}],
            "tasks": [
                {
                    "task_key": "nb",
                    "existing_cluster_id": local_databricks.add_cluster()["cluster_id"],
                    "notebook_task": {"notebook_path": "/Workspace/Shared/nb.py"},
                }
            ],
        }
    )
    run = w.jobs.run_now(job_id, job_parameters={"greeting": "hello"}).result()
    assert run.state.result_state == jobs.RunResultState.SUCCESS, run.state.state_message
    assert run.job_parameters[0].value == "hello"
    output = w.jobs.get_run_output(run.tasks[0].run_id)
    assert output.notebook_output.result == "hello/dflt"


def test_cold_start_shared_by_job_cluster(local_databricks, w, script):
    local_databricks.set_cluster_start_seconds(1.0)
    ok = script("print('ok')\n")
    job_id = local_databricks.create_job(
        {
            "name": "cold",
            "job_clusters": [{"job_cluster_key": "shared", "new_cluster": CLUSTER}],
            "tasks": [
                {
                    "task_key": k,
                    "job_cluster_key": "shared",
                    "spark_python_task": {"python_file": ok},
                }
                for k in ("a", "b")
            ]
            + [
                {
                    "task_key": "c",
                    "job_cluster_key": "shared",
                    "depends_on": [{"task_key": "a"}],
                    "spark_python_task": {"python_file": ok},
                }
            ],
        }
    )
    run_id = w.jobs.run_now(job_id).bind()["run_id"]
    time.sleep(0.3)
    pending = w.jobs.get_run(run_id)
    assert pending.state.life_cycle_state == jobs.RunLifeCycleState.PENDING
    assert pending.state.state_message == "Waiting for cluster"
    started = time.monotonic()
    run = w.jobs.wait_get_run_job_terminated_or_skipped(run_id)
    assert run.state.result_state == jobs.RunResultState.SUCCESS
    setup = {t.task_key: t.setup_duration for t in run.tasks}
    assert setup["a"] >= 900 and setup["b"] >= 900  # both waited for the one cluster
    assert setup["c"] < 500  # the cluster was already up
    assert time.monotonic() - started < 3


def test_secrets_in_spark_env_vars(local_databricks, w, script):
    local_databricks.put_secret("scope", "key", "s3cr3t")
    path = script("import os\nprint(os.environ['MY_SECRET'], os.environ.get('DATABRICKS_TOKEN'))\n")
    cluster = {**CLUSTER, "spark_env_vars": {"MY_SECRET": "{{secrets/scope/key}}"}}
    task = jobs.SubmitTask.from_dict(
        {"task_key": "t", "new_cluster": cluster, "spark_python_task": {"python_file": path}}
    )
    run = w.jobs.submit(tasks=[task]).result()
    assert w.jobs.get_run_output(run.tasks[0].run_id).logs == "s3cr3t None\n"

    cluster["spark_env_vars"] = {"MY_SECRET": "{{secrets/scope/missing}}"}
    task = jobs.SubmitTask.from_dict(
        {"task_key": "t", "new_cluster": cluster, "spark_python_task": {"python_file": path}}
    )
    run_id = w.jobs.submit(tasks=[task]).bind()["run_id"]
    run = _wait(w, run_id)
    assert run.state.life_cycle_state == jobs.RunLifeCycleState.INTERNAL_ERROR
    assert "scope: scope and key: missing" in run.state.state_message


def _wait(w, run_id):
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        run = w.jobs.get_run(run_id)
        if run.state.life_cycle_state.value in ("TERMINATED", "INTERNAL_ERROR", "SKIPPED"):
            return run
        time.sleep(0.05)
    pytest.fail("run did not finish")


@pytest.mark.parametrize(
    ("result", "life", "state"),
    [
        ("FAILED", "TERMINATED", "FAILED"),
        ("INTERNAL_ERROR", "INTERNAL_ERROR", "FAILED"),
        ("CRASH", "TERMINATED", "FAILED"),
    ],
)
def test_run_behaviour(local_databricks, w, script, result, life, state):
    path = script("import time\ntime.sleep(5)\n")
    local_databricks.set_run_behaviour(result=result, message=None if result == "CRASH" else "x")
    run = _wait(w, w.jobs.submit(tasks=[python_task("t", path)]).bind()["run_id"])
    assert (run.state.life_cycle_state.value, run.state.result_state.value) == (life, state)
    if result == "CRASH":
        assert "driver has stopped unexpectedly" in run.state.state_message


def test_hang_until_cancel_and_unknown_cluster(local_databricks, w, script):
    path = script("print('done quickly')\n")
    local_databricks.set_run_behaviour(result="HANG")
    run_id = w.jobs.submit(tasks=[python_task("t", path)]).bind()["run_id"]
    time.sleep(0.5)
    assert w.jobs.get_run(run_id).state.life_cycle_state == jobs.RunLifeCycleState.RUNNING
    assert w.jobs.cancel_run(run_id).result().state.result_state == jobs.RunResultState.CANCELED

    task = jobs.SubmitTask.from_dict(
        {"task_key": "t", "existing_cluster_id": "nope", "spark_python_task": {"python_file": path}}
    )
    run = _wait(w, w.jobs.submit(tasks=[task]).bind()["run_id"])
    assert run.state.life_cycle_state == jobs.RunLifeCycleState.INTERNAL_ERROR
    assert run.state.state_message == "Cluster nope does not exist"


def test_rate_limit_storm_is_retried(local_databricks, w, script):
    path = script("print(1)\n")
    local_databricks.inject_fault(
        "GET", r"/jobs/runs/get$", 429, times=2, headers={"Retry-After": "1"}
    )
    started = time.monotonic()
    run = w.jobs.submit(tasks=[python_task("t", path)]).result()
    assert run.state.result_state == jobs.RunResultState.SUCCESS
    assert time.monotonic() - started >= 2
    statuses = [c["status"] for c in local_databricks.calls() if c["path"].endswith("runs/get")]
    assert statuses[:2] == [429, 429] and statuses[-1] == 200


def test_rejected_submissions(w, script):
    path = script("print(1)\n")
    with pytest.raises(InvalidParameterValue, match="git_source"):
        w.jobs.submit(
            tasks=[python_task("t", "x.py")],
            git_source=jobs.GitSource(git_url="https://x", git_provider=jobs.GitProvider.GIT_HUB),
        )
    with pytest.raises(InvalidParameterValue, match="not supported by local-databricks"):
        w.jobs.submit(
            tasks=[jobs.SubmitTask(task_key="t", sql_task=jobs.SqlTask(warehouse_id="w"))]
        )
    with pytest.raises(InvalidParameterValue, match="cycle"):
        w.jobs.create(
            name="cyc",
            tasks=[
                jobs.Task(
                    task_key=k,
                    depends_on=[jobs.TaskDependency(task_key=d)],
                    new_cluster=compute.ClusterSpec(spark_version="x"),
                    spark_python_task=jobs.SparkPythonTask(python_file=path),
                )
                for k, d in (("a", "b"), ("b", "a"))
            ],
        )


def test_wheel_task_entry_point(w):
    task = jobs.SubmitTask.from_dict(
        {
            "task_key": "wheel",
            "new_cluster": CLUSTER,
            "python_wheel_task": {
                "package_name": "pytest",
                "entry_point": "pytest",
                "parameters": ["--version"],
            },
        }
    )
    run = w.jobs.submit(tasks=[task]).result()
    assert run.state.result_state == jobs.RunResultState.SUCCESS, run.state.state_message


def test_fuse_paths_and_cluster_logs(local_databricks, w, script):
    path = script(
        """
import os, pathlib, shutil
pathlib.Path("/Volumes/main/default/vol/out").mkdir(parents=True, exist_ok=True)
pathlib.Path("/Volumes/main/default/vol/out/a.txt").write_text("A")
os.makedirs("/dbfs/copied", exist_ok=True)
shutil.copy("/Volumes/main/default/vol/out/a.txt", "/dbfs/copied/a.txt")
print(sorted(os.listdir("/dbfs/copied")), os.path.exists("/Workspace/Shared"))
import sys
print("pyspark" in sys.modules)
"""
    )
    cluster = {**CLUSTER, "cluster_log_conf": {"dbfs": {"destination": "dbfs:/cluster-logs"}}}
    task = jobs.SubmitTask.from_dict(
        {"task_key": "t", "new_cluster": cluster, "spark_python_task": {"python_file": path}}
    )
    run = w.jobs.submit(tasks=[task]).result()
    assert run.state.result_state == jobs.RunResultState.SUCCESS, run.state.state_message
    assert w.jobs.get_run_output(run.tasks[0].run_id).logs == "['a.txt'] True\nFalse\n"
    assert w.files.download("/Volumes/main/default/vol/out/a.txt").contents.read() == b"A"
    cluster_id = run.tasks[0].cluster_instance.cluster_id
    with w.dbfs.download(f"/cluster-logs/{cluster_id}/driver/stdout") as handle:
        assert handle.read().startswith(b"['a.txt']")


def test_sdk_against_dead_server_fails_fast(local_databricks):
    client = make_client(local_databricks, retry_timeout_seconds=1)
    local_databricks.stop()
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        client.jobs.get_run(1)
    assert time.monotonic() - started < 10


def test_existing_sitecustomize_is_chained(w, script, tmp_path, monkeypatch):
    user_site = tmp_path / "usersite"
    user_site.mkdir()
    (user_site / "sitecustomize.py").write_text("import os\nos.environ['CHAINED'] = 'yes'\n")
    monkeypatch.setenv("PYTHONPATH", str(user_site))
    path = script("import os\nprint(os.environ.get('CHAINED'), os.path.isdir('/dbfs'))\n")
    run = w.jobs.submit(tasks=[python_task("t", path)]).result()
    assert w.jobs.get_run_output(run.tasks[0].run_id).logs == "yes True\n"
