"""A workspace that cannot be reached, or that stops accepting the credentials mid-run, fails
the step soon and says what to check: against local Databricks, with the real SDK over HTTP."""

import socket
import threading
import time
from pathlib import Path

import dagster as dg
import pytest
from dagster_results import failure_text
from local_databricks.bundle import deploy_bundle
from sample_project import AUTH_METHODS, Project

from brickpipes import DatabricksJobs, DatabricksPipes
from brickpipes.testing import use_local_auth

# With default settings, a step facing an unreachable workspace fails within this bound.
STEP_BOUND_SECONDS = 60
# After its last try the SDK sleeps up to 10 s plus 1 s of jitter (databricks/sdk/retries.py).
SDK_LAST_SLEEP_SECONDS = 11
# The failure tests give the SDK 3 s of retries, not the default budget: what they prove (it
# retries, says so, then fails the step naming the host and the cause) does not depend on the
# budget's length, and the default is checked against the bound on its own.
SHORT_RETRY_SECONDS = 3


def materialize(
    asset: dg.AssetsDefinition, resources: dict
) -> tuple[dg.ExecuteInProcessResult, str]:
    """Materialize ``asset`` with ``resources``; return the result and what the step logged."""
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([asset], resources=resources, instance=instance, raise_on_error=False)
    logged = [entry.user_message for entry in instance.all_logs(result.run_id)]
    return result, "\n".join(logged)


@dg.asset
def sleeps(context: dg.AssetExecutionContext, databricks_pipes: DatabricksPipes):
    """Runs remote/sleeps.py through the Pipes runner."""
    return databricks_pipes.run(context, "sleeps.py").get_materialize_result()


def short_retries(project: Project) -> dict:
    """The project's resources at local speed, every workspace with a short retry budget."""
    return project.resources(retry_timeout_seconds=SHORT_RETRY_SECONDS)


def sdk_retry_budget(server, resources: dict) -> int:
    """The retry budget of the SDK client that ``resources`` build, in seconds.

    Building it may call ``server`` (OAuth endpoints); the call log is cleared after.
    """
    workspace = resources["databricks_workspace"].process_config_and_initialize()
    budget = workspace.get_client().config.retry_timeout_seconds
    server.clear_calls()
    return budget


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def assert_failed_fast(result: dg.ExecuteInProcessResult, seconds: float, budget: int) -> str:
    """The step failed within the SDK's budget and said it retried; return the failure text."""
    assert not result.success
    text = failure_text(result)
    assert f"the SDK gave up after retrying for {budget} s (retry_timeout_seconds)" in text
    # A generous upper bound only, for a loaded machine: the budget above is the real check.
    assert seconds < STEP_BOUND_SECONDS
    return text


@pytest.mark.parametrize("project", [Project(auth_method=m) for m in AUTH_METHODS], ids=str)
def test_the_default_retry_budget_fails_a_step_within_the_bound(local_workspace, project) -> None:
    resources = project.resources()
    budget = sdk_retry_budget(local_workspace, resources)
    assert budget + SDK_LAST_SLEEP_SECONDS < STEP_BOUND_SECONDS
    # The Pipes runner's and the job trigger's workspaces have the same budget as the shared one.
    assert resources["databricks_pipes"].workspace.retry_timeout_seconds == budget
    assert resources["databricks_jobs"].workspace.retry_timeout_seconds == budget


@pytest.mark.parametrize("project", [Project(auth_method="oauth-m2m")], ids=str)
def test_refused_connection_fails_fast_naming_the_host(
    local_workspace, project, monkeypatch: pytest.MonkeyPatch
) -> None:
    # OAuth M2M first fetches the workspace's OAuth endpoints, within the budget too
    # (upstream_fixes.py). Entra ID is emulated only for a local host: with
    # azure-client-secret, the refusing host gets the local auth too.
    resources = short_retries(project)
    budget = sdk_retry_budget(local_workspace, resources)
    host = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("DATABRICKS_HOST", host)
    if project.auth_method == "azure-client-secret":
        use_local_auth(host, local_workspace.token, monkeypatch.setattr)
    started = time.monotonic()
    result, logged = materialize(sleeps, resources)
    text = assert_failed_fast(result, time.monotonic() - started, budget)
    method = project.auth_method
    assert f"Cannot use Databricks at {host} (auth_method={method}" in text
    assert "the connection was refused" in text
    assert "Check " in text and "VPN, firewall" in text
    assert f"Retrying a Databricks request to {host}: cannot connect" in logged
    assert local_workspace.calls() == []


def test_workspace_answering_503_forever_fails_fast(local_workspace, project) -> None:
    resources = short_retries(project)
    budget = sdk_retry_budget(local_workspace, resources)
    local_workspace.inject_fault("*", ".*", status=503, times=-1)
    started = time.monotonic()
    result, logged = materialize(sleeps, resources)
    text = assert_failed_fast(result, time.monotonic() - started, budget)
    host = local_workspace.url
    assert f"Cannot use Databricks at {host} (auth_method={project.auth_method}" in text
    assert "it kept answering 503 Temporarily Unavailable" in text
    assert "status.databricks.com" in text
    assert f"Retrying a Databricks request to {host}: throttled by platform" in logged
    statuses = [call["status"] for call in local_workspace.calls()]
    assert len(statuses) >= 2 and set(statuses) == {503}  # retried, and never got through
    assert local_workspace.runs() == []
    # One request spends the retry budget, then the step fails: the bound above holds only
    # if nothing before it spends a budget of its own (newer SDKs probe the host's metadata
    # when a client is built, and go on without it after retrying for the whole budget).
    retried = sorted({call["path"] for call in local_workspace.calls()})
    assert len(retried) == 1, f"more than one retry budget spent, on {retried}"


def revoke_credentials_once_running(server, project: Project) -> threading.Thread:
    """Revoke the credentials once the run has been RUNNING for two polls, from a thread.

    For OAuth, the service principal's secret is rotated too: otherwise the client would
    simply fetch a new token with the secret it holds.
    """

    def revoke() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            runs = server.runs()
            polls = [c for c in server.calls() if c["path"].endswith("/runs/get")]
            if runs and runs[0]["state"]["life_cycle_state"] == "RUNNING" and len(polls) >= 2:
                break
            time.sleep(0.1)
        if project.auth_method == "oauth-m2m":
            server.register_tokens(client_id=server.client_id, client_secret="rotated-" + "x" * 8)
        server.revoke_tokens()

    thread = threading.Thread(target=revoke, daemon=True)
    thread.start()
    return thread


def assert_run_left_running(result: dg.ExecuteInProcessResult, server, project) -> None:
    """The step failed naming the run, its page, and that someone must cancel it."""
    assert not result.success
    text = failure_text(result)
    (run,) = server.runs()
    assert f"Databricks rejected the credentials (auth_method={project.auth_method}" in text
    assert f"while Dagster was watching run {run['run_id']}" in text
    assert f"Run page: {run['run_page_url']}" in text
    assert "may still be working" in text
    assert f"Someone with valid credentials must cancel run {run['run_id']}" in text
    # Nothing cancelled it: these credentials could not.
    assert run["state"]["life_cycle_state"] == "RUNNING"


@pytest.mark.parametrize(
    "project", [Project(auth_method="pat"), Project(auth_method="oauth-m2m")], ids=str
)
def test_credentials_revoked_mid_run_name_the_run_left_running(local_workspace, project) -> None:
    local_workspace.set_cluster_start_seconds(0)
    revoker = revoke_credentials_once_running(local_workspace, project)
    result, _ = materialize(sleeps, project.resources())
    revoker.join()
    assert_run_left_running(result, local_workspace, project)


def test_credentials_revoked_during_run_now_name_the_run_left_running(
    local_workspace, project, tmp_path: Path
) -> None:
    # A bundle of the test's own, deployed as local development deploys one: one job whose
    # task sleeps.
    bundle = tmp_path / "bundle"
    for folder in ("resources", "jobs"):
        (bundle / folder).mkdir(parents=True)
    (bundle / "databricks.yml").write_text(
        "bundle: {name: sleeper}\ninclude: [resources/*.yml]\n"
        "targets: {dev: {default: true, workspace: {root_path: /Workspace/Shared/sleeper}}}\n"
    )
    (bundle / "jobs" / "sleeps.py").write_text(
        "import time\nprint('working', flush=True)\ntime.sleep(120)\n"
    )
    (bundle / "resources" / "sleeper.job.yml").write_text(
        "resources: {jobs: {sleeper: {name: sleeper, tasks: [{task_key: sleeps, "
        "spark_python_task: {python_file: ../jobs/sleeps.py}, "
        "new_cluster: {spark_version: 16.4.x-scala2.12, node_type_id: m5d.large, "
        "num_workers: 0}}]}}}\n"
    )
    deploy_bundle(local_workspace, bundle)

    @dg.asset
    def sleeper(context: dg.AssetExecutionContext, databricks_jobs: DatabricksJobs) -> None:
        databricks_jobs.run_now(context, "sleeper")

    revoker = revoke_credentials_once_running(local_workspace, project)
    result, _ = materialize(sleeper, project.resources())
    revoker.join()
    assert_run_left_running(result, local_workspace, project)
