"""The Pipes runner end to end against local Databricks: the real SDK over HTTP, brickpipes'
own transport, with the faults, terminations and proxies a workspace can produce."""

import os
import shutil
from pathlib import Path

import dagster as dg
import pytest
from dagster_pipes import decode_param
from dagster_results import failure_text, interrupt_while_running, life_cycle, wait_for
from local_databricks.proxy import ForwardingProxy
from sample_project import (
    AUTH_METHODS,
    CODE_LOCATION,
    CODE_PATH,
    PIPES_REQUIREMENT,
    PIPES_VOLUME,
    REMOTE_DIR,
    REPRESENTATIVE,
    Project,
)

from brickpipes import DatabricksPipes, DatabricksRunFailed, RemoteTask, runner


def run_script(
    project: Project,
    script: str,
    overrides: dict | None = None,
    run_id: str | None = None,
    runner_settings: dict | None = None,
) -> dg.ExecuteInProcessResult:
    """Materialize a one-asset job whose step runs ``remote/<script>`` on local Databricks.

    The runner polls at local speed unless ``runner_settings`` says otherwise.
    """

    @dg.asset(name=Path(script).stem)
    def probe(context: dg.AssetExecutionContext, databricks_pipes: DatabricksPipes):
        return databricks_pipes.run(context, script, overrides=overrides).get_materialize_result()

    job = dg.Definitions(assets=[probe], resources=project.resources(**(runner_settings or {})))
    return job.resolve_implicit_global_asset_job_def().execute_in_process(
        run_id=run_id, raise_on_error=False
    )


def calls_to(server, suffix: str) -> list[dict]:
    """The calls ``server`` answered whose path ends with ``suffix``."""
    return [call for call in server.calls() if call["path"].endswith(suffix)]


@pytest.mark.parametrize("project", REPRESENTATIVE, ids=str)
def test_script_materializes_with_names_tags_and_the_pipes_pin(
    local_workspace, project: Project
) -> None:
    result = run_script(project, "quiet.py")
    assert result.success, failure_text(result)
    metadata = result.asset_materializations_for_node("quiet")[0].metadata
    assert metadata["rows"].value == 3  # reported by the remote over this transport
    (run,) = local_workspace.runs()
    assert metadata["Databricks Job Run ID"].value == str(run["run_id"])
    assert run["state"]["result_state"] == "SUCCESS"

    (submit,) = calls_to(local_workspace, "/runs/submit")
    body = submit["body"]
    assert body["run_name"].startswith(f"{CODE_LOCATION}: quiet (dagster run ")
    assert len(body["idempotency_token"]) == 64
    (task,) = body["tasks"]
    assert task["spark_python_task"]["python_file"].startswith(f"/Workspace{CODE_PATH}/")
    # The Pipes bootstrap travels as the script's arguments on every compute, and names the
    # transport the remote opens (no guessing from the path).
    parameters = task["spark_python_task"]["parameters"]
    assert parameters[0::2] == ["--dagster-pipes-context", "--dagster-pipes-messages"]
    context_params, message_params = (decode_param(value) for value in parameters[1::2])
    transport = "volumes" if project.compute == "serverless" else project.transport
    assert context_params["transport"] == message_params["transport"] == transport
    pipes_files = [c for c in local_workspace.calls() if PIPES_VOLUME in c["path"]]
    dbfs_files = [c for c in local_workspace.calls() if "/api/2.0/dbfs/" in c["path"]]
    assert bool(pipes_files) == (transport == "volumes")
    assert bool(dbfs_files) == (transport == "dbfs")

    if project.compute == "job-cluster":
        tags = task["new_cluster"]["custom_tags"]
        assert tags["dagster_code_location"] == CODE_LOCATION
        assert tags["dagster_step"] == "quiet"
        assert len(tags["dagster_run_id"]) == 36
        assert task["libraries"] == [{"pypi": {"package": PIPES_REQUIREMENT}}]
    elif project.compute == "existing-cluster":
        assert task["existing_cluster_id"] == os.environ["DATABRICKS_CLUSTER_ID"]
        assert task["libraries"] == [{"pypi": {"package": PIPES_REQUIREMENT}}]
    else:
        assert task["environment_key"] == "dagster_pipes"
        assert "new_cluster" not in task and "libraries" not in task
        (environment,) = body["environments"]
        assert environment["spec"]["dependencies"] == [PIPES_REQUIREMENT]


def test_remote_exception_fails_the_step_with_its_text(local_workspace, project) -> None:
    result = run_script(project, "raises.py")
    assert not result.success
    text = failure_text(result)
    assert "bad input: order 42 has no region" in text
    (run,) = local_workspace.runs()
    assert run["state"]["result_state"] == "FAILED"
    # Which run, where to look, which task, what state, and the remote error itself.
    assert f"Databricks run {run['run_id']} ended TERMINATED/FAILED" in text
    assert f"Run page: {local_workspace.url}" in text
    assert "Task 'raises'" in text
    assert "ValueError: bad input: order 42 has no region" in text
    # The failure leads with its cause: the remote exception, then which run, task and page.
    (failure,) = result.get_step_failure_events()
    error = failure.step_failure_data.error
    while error is not None and error.cause is not None:
        error = error.cause
    assert error is not None
    assert error.message.splitlines()[0] == (
        "brickpipes.errors.DatabricksRunFailed: ValueError: bad input: order 42 has no region "
        f"(Databricks run {run['run_id']}, task 'raises': {run['run_page_url']})"
    )


def test_rate_limit_storm_is_retried_and_the_run_succeeds(local_workspace, project) -> None:
    local_workspace.inject_fault(
        "GET", r"/jobs/runs/get", status=429, times=4, headers={"Retry-After": "0"}
    )
    local_workspace.inject_fault(
        "POST", r"/jobs/runs/submit", status=429, times=2, headers={"Retry-After": "0"}
    )
    result = run_script(project, "quiet.py")
    assert result.success, failure_text(result)
    statuses = [call["status"] for call in local_workspace.calls()]
    assert statuses.count(429) == 6


@pytest.mark.parametrize("project", [Project(auth_method=m) for m in AUTH_METHODS], ids=str)
def test_rejected_credentials_fail_with_a_clear_auth_error(
    local_workspace, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    if project.auth_method == "oauth-m2m":
        # A rotated service-principal secret: the token endpoint refuses the client.
        monkeypatch.setenv("DATABRICKS_CLIENT_SECRET", "rotated-secret")
    elif project.auth_method == "azure-client-secret":
        # A rotated Entra ID secret: the (local) Entra ID token endpoint refuses the client.
        monkeypatch.setenv("ARM_CLIENT_SECRET", "rotated-secret")
    else:
        local_workspace.revoke_tokens()  # an expired or revoked token
    result = run_script(project, "quiet.py")
    assert not result.success
    expected = f"Databricks rejected the credentials (auth_method={project.auth_method}"
    assert expected in failure_text(result)
    assert local_workspace.runs() == []


def test_terminating_the_dagster_run_cancels_the_remote_run_and_fails(
    local_workspace, project
) -> None:
    # Interrupted while it polls the running run (the submit call has returned).
    result = interrupt_while_running(local_workspace, lambda: run_script(project, "hangs.py"))
    assert not result.success and not result.get_asset_materialization_events()
    assert len(result.get_step_failure_events()) == 1
    assert local_workspace.runs()[0]["state"]["result_state"] == "CANCELED"


def test_polling_error_cancels_the_remote_run(local_workspace, project) -> None:
    # A 500 that the SDK does not retry, while the run is RUNNING: upstream would orphan it.
    local_workspace.set_cluster_start_seconds(0)
    local_workspace.inject_fault(
        "GET", r"/jobs/runs/get", status=500, skip=3, message="backend exploded"
    )
    result = run_script(project, "hangs.py")
    assert not result.success
    assert "backend exploded" in failure_text(result)
    wait_for(lambda: life_cycle(local_workspace) == "TERMINATED")
    assert local_workspace.runs()[0]["state"]["result_state"] == "CANCELED"


def test_run_end_is_noticed_from_the_pipes_closed_message(local_workspace, project) -> None:
    # Production-like polling: runs/get every 20 s. The remote's "closed" message (read every
    # 0.5 s) says the run is ending, so its end is seen long before the next scheduled poll.
    result = run_script(
        project,
        "quiet.py",
        runner_settings={"poll_interval_seconds": 20, "message_interval_seconds": 0.5},
    )
    assert result.success, failure_text(result)
    (run,) = local_workspace.runs()
    polls = [c["time"] for c in calls_to(local_workspace, "/runs/get")]
    assert polls[-1] - run["end_time"] / 1000 < 10, "the end waited for the 20 s poll"


def test_fast_polls_after_the_closed_message_are_capped(
    local_workspace, project, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A remote that closes Pipes and then keeps working must not be polled fast throughout
    # (on a workspace, a run may also stay TERMINATING for a while after its process ended).
    monkeypatch.setattr(runner, "CLOSING_POLL_SECONDS", 0.05)
    result = run_script(
        project,
        "lingers.py",
        runner_settings={"poll_interval_seconds": 1, "message_interval_seconds": 0.2},
    )
    assert result.success, failure_text(result)
    polls = calls_to(local_workspace, "/runs/get")
    # Uncapped, the 3 s after the close alone would take 60 polls at 0.05 s.
    assert len(polls) <= runner.CLOSING_POLLS + 8


def test_resubmitted_attempt_reuses_the_remote_run(local_workspace, project) -> None:
    # Same Dagster run, step and attempt -> same idempotency token -> no second remote run.
    first = run_script(project, "quiet.py", run_id="0f8c3e4a-1111-4a2b-9c3d-5e6f7a8b9c0d")
    second = run_script(project, "quiet.py", run_id="0f8c3e4a-1111-4a2b-9c3d-5e6f7a8b9c0d")
    assert first.success and second.success
    assert len(local_workspace.runs()) == 1
    assert len(calls_to(local_workspace, "/runs/submit")) == 2


def test_timeout_covers_the_cold_start(local_workspace, project) -> None:
    local_workspace.set_cluster_start_seconds(5)  # a cold start longer than the timeout
    result = run_script(project, "hangs.py", overrides={"timeout_seconds": 2})
    assert not result.success
    text = failure_text(result)
    assert "ended TERMINATED/TIMEDOUT" in text
    assert "exceeded its timeout_seconds (2 s, cluster start included)" in text
    assert local_workspace.runs()[0]["state"]["result_state"] == "TIMEDOUT"


def test_unchanged_script_is_uploaded_once(local_workspace, tmp_path: Path) -> None:
    remote = tmp_path / "remote"
    shutil.copytree(REMOTE_DIR, remote)
    project = Project(remote_dir=remote)
    assert run_script(project, "quiet.py").success
    # The script and the Pipes helper beside it, in one content-addressed folder.
    assert len(calls_to(local_workspace, "/workspace/import")) == 2
    assert run_script(project, "quiet.py").success
    assert len(calls_to(local_workspace, "/workspace/import")) == 2
    (remote / "quiet.py").write_text((remote / "quiet.py").read_text() + "\n")
    assert run_script(project, "quiet.py").success
    assert len(calls_to(local_workspace, "/workspace/import")) == 4
    # A changed script gets a new content-addressed path.
    files = [
        call["body"]["tasks"][0]["spark_python_task"]["python_file"]
        for call in calls_to(local_workspace, "/runs/submit")
    ]
    assert files[0] == files[1] != files[2]


@pytest.mark.parametrize("bypass", [False, True], ids=["via-proxy", "no-proxy"])
def test_requests_honour_the_proxy_settings(
    local_workspace, project, monkeypatch: pytest.MonkeyPatch, bypass: bool
) -> None:
    # Networks that only reach the workspace through a proxy: requests reads these variables.
    with ForwardingProxy() as proxy:
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
            monkeypatch.setenv(name, proxy.url)
        for name in ("NO_PROXY", "no_proxy"):
            monkeypatch.setenv(name, "127.0.0.1,localhost" if bypass else "")
        assert run_script(project, "quiet.py").success
    through_proxy = [line for line in proxy.requests if line.endswith("/jobs/runs/submit")]
    assert len(through_proxy) == (0 if bypass else 1)


ROLLUPS = ["orders_by_region", "orders_by_customer", "orders_by_day"]


def run_together(project: Project, failing: str = "") -> dg.ExecuteInProcessResult:
    """Materialize the three rollups, one task each in one run (``failing``'s task fails)."""

    @dg.multi_asset(specs=[dg.AssetSpec(key) for key in ROLLUPS], can_subset=True)
    def rollups(context: dg.AssetExecutionContext, databricks_pipes: DatabricksPipes):
        tasks = {
            key.to_user_string(): RemoteTask(
                "rollup.py",
                ["--asset", key.to_user_string(), *(["--fail"] if key.path == [failing] else [])],
            )
            for key in context.selected_asset_keys
        }
        try:
            invocation = databricks_pipes.run_together(context, tasks)
        except DatabricksRunFailed as failure:
            yield from failure.results  # the tasks that succeeded are still recorded
            raise
        yield from invocation.get_results()

    return dg.materialize([rollups], resources=project.resources(), raise_on_error=False)


def materialized(result: dg.ExecuteInProcessResult) -> set[str]:
    return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}


@pytest.mark.parametrize(
    "project", [Project(), Project(compute="serverless")], ids=["job-cluster", "serverless"]
)
def test_assets_materialized_together_run_as_one_run(local_workspace, project) -> None:
    local_workspace.set_cluster_start_seconds(1)
    result = run_together(project)
    assert result.success, failure_text(result)
    assert materialized(result) == set(ROLLUPS)
    for event in result.get_asset_materialization_events():
        key = event.asset_key.to_user_string()
        assert event.materialization.metadata["task"].value == key  # each task its own asset
    (run,) = local_workspace.runs()
    assert sorted(task["task_key"] for task in run["tasks"]) == sorted(ROLLUPS)
    submits = calls_to(local_workspace, "/runs/submit")
    deletes = calls_to(local_workspace, "/jobs/delete")
    if project.compute == "job-cluster":
        # One job cluster for all tasks: the cluster started once. The one-time job is gone.
        clusters = {task["cluster_instance"]["cluster_id"] for task in run["tasks"]}
        assert len(clusters) == 1
        assert not submits and len(deletes) == 1
        (create,) = calls_to(local_workspace, "/jobs/create")
        (shared,) = create["body"]["job_clusters"]
        assert shared["new_cluster"]["custom_tags"]["dagster_code_location"] == CODE_LOCATION
        assert {task["job_cluster_key"] for task in create["body"]["tasks"]} == {
            shared["job_cluster_key"]
        }
    else:
        assert len(submits) == 1 and not deletes


def test_a_failing_task_of_a_shared_run_fails_alone(local_workspace, project) -> None:
    result = run_together(project, failing="orders_by_customer")
    assert not result.success
    assert materialized(result) == {"orders_by_region", "orders_by_day"}
    text = failure_text(result)
    assert "Task 'orders_by_customer'" in text and "KeyError: 'no column for" in text
    assert len(calls_to(local_workspace, "/jobs/delete")) == 1  # deleted after a failure too
