"""Triggering an existing Databricks job (``DatabricksJobs.run_now``) has the Pipes runner's run
lifecycle: a terminated step or a polling error cancels the run, a retried attempt reuses it,
and a failed task names the run, task, state and remote error. ``materialize_job_assets``
attributes each task's outcome to the assets that need it. Against local Databricks, with the
real SDK over HTTP."""

from collections.abc import Sequence

import dagster as dg
import pytest
from dagster_results import failure_text, interrupt_while_running, life_cycle, wait_for
from databricks.sdk.service import compute, jobs
from databricks.sdk.service.workspace import ImportFormat
from sample_project import Project

from brickpipes import DatabricksJobs, materialize_job_assets

SCRIPTS = {
    "sleeper": "import time\ntime.sleep(120)\n",
    "quick": "print('done')\n",
    "breaks": "raise ValueError('orders table is locked')\n",
}
FOLDER = "/Shared/test_job_runs"


def create_job(
    project: Project, name: str, tasks: Sequence[tuple[str, str, list[str], str]] = ()
) -> int:
    """Create job ``name`` through the SDK, as a bundle deploy does. Each task is
    ``(task_key, script, depends_on, run_if)`` on its own new job cluster; without ``tasks``
    the job has one task ``work`` that runs ``SCRIPTS[name]``."""
    workspace = project.resources()["databricks_workspace"].process_config_and_initialize()
    client = workspace.get_client()
    client.workspace.mkdirs(FOLDER)
    cluster = compute.ClusterSpec(
        spark_version="16.4.x-scala2.12", node_type_id="m5d.large", num_workers=0
    )
    specs = []
    for key, script, depends_on, run_if in tasks or [("work", name, [], "ALL_SUCCESS")]:
        path = f"{FOLDER}/{script}.py"
        client.workspace.upload(
            path, SCRIPTS[script].encode(), format=ImportFormat.AUTO, overwrite=True
        )
        specs.append(
            jobs.Task(
                task_key=key,
                spark_python_task=jobs.SparkPythonTask(python_file=f"/Workspace{path}"),
                new_cluster=cluster,
                depends_on=[jobs.TaskDependency(task_key=d) for d in depends_on],
                run_if=jobs.RunIf(run_if),
            )
        )
    created = client.jobs.create(name=name, tasks=specs)
    assert created.job_id is not None
    return created.job_id


def run_job(project: Project, name: str, run_id: str | None = None) -> dg.ExecuteInProcessResult:
    """Materialize an asset whose step triggers job ``name`` and fails unless its task
    succeeded, with the project's resources at local speed."""

    @dg.asset(name=f"triggers_{name}")
    def triggers(context: dg.AssetExecutionContext, databricks_jobs: DatabricksJobs):
        run = databricks_jobs.run_now(context, name)
        yield from materialize_job_assets(context, run, {context.asset_key: ["work"]})

    job = dg.Definitions(assets=[triggers], resources=project.resources())
    return job.resolve_implicit_global_asset_job_def().execute_in_process(
        run_id=run_id, raise_on_error=False
    )


def test_job_run_materializes_with_its_run_and_task_states(local_workspace, project) -> None:
    create_job(project, "quick")
    result = run_job(project, "quick")
    assert result.success, failure_text(result)
    metadata = result.asset_materializations_for_node("triggers_quick")[0].metadata
    assert metadata["task/work"].value == "SUCCESS"
    assert str(metadata["Databricks Job Run URL"].value).startswith(local_workspace.url)


def test_failed_task_names_the_run_state_and_remote_error(local_workspace, project) -> None:
    create_job(project, "breaks")
    result = run_job(project, "breaks")
    assert not result.success
    text = failure_text(result)
    (run,) = local_workspace.runs()
    assert f"Databricks run {run['run_id']} (FAILED)" in text
    assert "work FAILED: ValueError: orders table is locked" in text


def test_a_missing_job_fails_with_its_name(local_workspace, project) -> None:
    result = run_job(project, "quick")
    assert not result.success
    assert "No Databricks job is named 'quick'" in failure_text(result)
    assert local_workspace.runs() == []


def test_polling_error_cancels_the_job_run(local_workspace, project) -> None:
    # A 500 that the SDK does not retry, while the run is RUNNING: nobody would watch it.
    create_job(project, "sleeper")
    local_workspace.set_cluster_start_seconds(0)
    local_workspace.inject_fault(
        "GET", r"/jobs/runs/get", status=500, skip=3, message="backend exploded"
    )
    result = run_job(project, "sleeper")
    assert not result.success
    assert "backend exploded" in failure_text(result)
    wait_for(lambda: life_cycle(local_workspace) == "TERMINATED")
    assert local_workspace.runs()[0]["state"]["result_state"] == "CANCELED"


def test_resubmitted_attempt_reuses_the_job_run(local_workspace, project) -> None:
    # Same Dagster run, step and attempt -> same idempotency token -> no second job run.
    create_job(project, "quick")
    first = run_job(project, "quick", run_id="7d1f2a3b-2222-4c5d-8e9f-0a1b2c3d4e5f")
    second = run_job(project, "quick", run_id="7d1f2a3b-2222-4c5d-8e9f-0a1b2c3d4e5f")
    assert first.success and second.success
    assert len(local_workspace.runs()) == 1
    starts = [c for c in local_workspace.calls() if c["path"].endswith("/jobs/run-now")]
    assert len(starts) == 2


def test_terminating_the_dagster_run_cancels_the_job_run(local_workspace, project) -> None:
    create_job(project, "sleeper")
    local_workspace.set_cluster_start_seconds(0)
    result = interrupt_while_running(local_workspace, lambda: run_job(project, "sleeper"))
    assert not result.success and not result.get_asset_materialization_events()
    assert len(result.get_step_failure_events()) == 1
    assert local_workspace.runs()[0]["state"]["result_state"] == "CANCELED"


# An existing job of four tasks: extract -> validate -> refresh, and notify, which runs
# whatever happened (ALL_DONE). Three assets, each needing one task.
PIPELINE_ASSETS = {
    "raw_orders": ["extract"],
    "order_report": ["validate"],
    "dashboard": ["refresh"],
}


def create_pipeline(project: Project, breaking: str = "") -> None:
    """The four-task job ``pipeline``; the ``breaking`` task fails."""

    def script(key: str) -> str:
        return "breaks" if key == breaking else "quick"

    create_job(
        project,
        "pipeline",
        [
            ("extract", script("extract"), [], "ALL_SUCCESS"),
            ("validate", script("validate"), ["extract"], "ALL_SUCCESS"),
            ("refresh", script("refresh"), ["validate"], "ALL_SUCCESS"),
            ("notify", "quick", ["refresh"], "ALL_DONE"),
        ],
    )


def run_pipeline(project: Project, allowed_failures: Sequence[str]) -> dg.ExecuteInProcessResult:
    """Materialize the pipeline's three assets from one run of the job."""

    # Skippable: an asset whose task did not succeed is not materialized implicitly.
    @dg.multi_asset(specs=[dg.AssetSpec(key, skippable=True) for key in PIPELINE_ASSETS])
    def pipeline(context: dg.AssetExecutionContext, databricks_jobs: DatabricksJobs):
        run = databricks_jobs.run_now(context, "pipeline")
        tasks = {dg.AssetKey(key): task_keys for key, task_keys in PIPELINE_ASSETS.items()}
        yield from materialize_job_assets(context, run, tasks, allowed_failures)

    return dg.materialize([pipeline], resources=project.resources(), raise_on_error=False)


def materialized(result: dg.ExecuteInProcessResult) -> dict[str, dict]:
    """Each materialized asset's metadata values, by asset key."""
    return {
        event.asset_key.to_user_string(): {
            name: value.value for name, value in event.materialization.metadata.items()
        }
        for event in result.get_asset_materialization_events()
    }


def test_job_run_materializes_each_task_asset(local_workspace, project) -> None:
    create_pipeline(project)
    result = run_pipeline(project, allowed_failures=["refresh"])
    assert result.success, failure_text(result)
    assets = materialized(result)
    assert set(assets) == set(PIPELINE_ASSETS)
    report = assets["order_report"]
    assert report["run_state"] == "SUCCESS"
    assert report["task/validate"] == "SUCCESS" and "task/refresh" not in report
    assert "| notify | SUCCESS |" in report["tasks"]


@pytest.mark.parametrize("allowed", [True, False], ids=["allowed", "not-allowed"])
def test_a_failed_task_skips_only_its_asset_and_fails_unless_allowed(
    local_workspace, project, allowed: bool
) -> None:
    create_pipeline(project, breaking="refresh")
    result = run_pipeline(project, allowed_failures=["refresh"] if allowed else [])
    assert result.success == allowed
    assets = materialized(result)
    assert set(assets) == {"raw_orders", "order_report"}
    # notify runs ALL_DONE and succeeds: the run ends SUCCESS_WITH_FAILURES.
    assert assets["raw_orders"]["run_state"] == "SUCCESS_WITH_FAILURES"
    if not allowed:
        assert "refresh FAILED: ValueError: orders table is locked" in failure_text(result)


def test_critical_task_failure_fails_even_when_the_run_ends_success_with_failures(
    local_workspace, project
) -> None:
    create_pipeline(project, breaking="validate")
    result = run_pipeline(project, allowed_failures=["refresh"])
    assert not result.success
    assert set(materialized(result)) == {"raw_orders"}  # refresh was skipped (upstream failed)
    text = failure_text(result)
    (run,) = local_workspace.runs()
    assert f"Databricks run {run['run_id']} (SUCCESS_WITH_FAILURES): validate FAILED" in text
    assert "ValueError: orders table is locked" in text
