"""Command Execution API 1.2 through the SDK's own methods (w.command_execution)."""

import time

import pytest
from databricks.sdk.errors import InvalidParameterValue, NotFound
from databricks.sdk.service import compute
from ld_helpers import raw

PY = compute.Language.PYTHON


@pytest.fixture
def cluster_id(local_databricks) -> str:
    return local_databricks.add_cluster(spark_env_vars={"FROM_CLUSTER": "yes"})["cluster_id"]


def _run(w, cluster_id, context_id, command) -> compute.CommandStatusResponse:
    return w.command_execution.execute_and_wait(
        cluster_id=cluster_id, context_id=context_id, language=PY, command=command
    )


def test_persistent_context_results_errors_and_runtime_auth(local_databricks, w, cluster_id):
    context = w.command_execution.create_and_wait(cluster_id=cluster_id, language=PY)
    assert context.status == compute.ContextStatus.RUNNING
    first = _run(w, cluster_id, context.id, "x = 41\nprint('hi')\nx + 1")
    assert first.status == compute.CommandStatus.FINISHED
    assert first.results.result_type == compute.ResultType.TEXT
    assert first.results.data == "hi\n42\n"
    # the namespace persists; indented code (as the SDK's dbutils proxy sends it) runs
    second = _run(w, cluster_id, context.id, "\n    import os\n    (x, os.environ['FROM_CLUSTER'])")
    assert second.results.data == "(41, 'yes')\n"
    failed = _run(w, cluster_id, context.id, "1/0")
    assert failed.status == compute.CommandStatus.FINISHED
    assert failed.results.result_type == compute.ResultType.ERROR
    assert "ZeroDivisionError" in failed.results.summary
    assert "division by zero" in failed.results.cause
    # WorkspaceClient() with no arguments and dbutils work inside a command context
    local_databricks.put_secret("scope", "key", "s3cr3t")
    auth = _run(
        w,
        cluster_id,
        context.id,
        "from databricks.sdk import WorkspaceClient\n"
        "c = WorkspaceClient()\n"
        "dbutils.notebook.exit(c.config.auth_type + ' ' + c.current_user.me().user_name + ' '"
        " + c.dbutils.secrets.get('scope', 'key'))",
    )
    assert auth.results.data == "runtime local.user@example.com s3cr3t"
    token = _run(w, cluster_id, context.id, "import os\nos.environ['LOCAL_DATABRICKS_API_TOKEN']")
    w.command_execution.destroy(cluster_id=cluster_id, context_id=context.id)
    w.command_execution.destroy(cluster_id=cluster_id, context_id=context.id)  # retry is fine
    status, _, _ = raw(
        local_databricks,
        "GET",
        "/api/2.0/preview/scim/v2/Me",
        token=token.results.data.strip().strip("'"),
    )
    assert status == 401  # the context's credential went with it
    with pytest.raises(NotFound):
        w.command_execution.context_status(cluster_id=cluster_id, context_id=context.id)


def test_cancel_a_running_command(w, cluster_id):
    context = w.command_execution.create_and_wait(cluster_id=cluster_id, language=PY)
    started = w.command_execution.execute(
        cluster_id=cluster_id,
        context_id=context.id,
        language=PY,
        command="import time\ntime.sleep(60)",
    )
    command_id = started.response.id
    deadline = time.monotonic() + 10
    while (
        w.command_execution.command_status(
            cluster_id=cluster_id, context_id=context.id, command_id=command_id
        ).status
        != compute.CommandStatus.RUNNING
    ):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    cancelled = w.command_execution.cancel_and_wait(
        cluster_id=cluster_id, context_id=context.id, command_id=command_id
    )
    assert cancelled.status == compute.CommandStatus.CANCELLED
    assert cancelled.results.result_type == compute.ResultType.ERROR
    # the context lives on
    assert _run(w, cluster_id, context.id, "1 + 1").results.data == "2\n"


def test_refusals_and_lost_context(local_databricks, w, cluster_id):
    with pytest.raises(InvalidParameterValue, match="does not exist"):
        w.command_execution.create(cluster_id="nope", language=PY)
    with pytest.raises(InvalidParameterValue, match="Python commands only"):
        w.command_execution.create(cluster_id=cluster_id, language=compute.Language.SCALA)
    for body, field in (
        ({"language": "python"}, "clusterId"),
        ({"clusterId": cluster_id, "language": 5}, "language"),
    ):
        status, _, answer = raw(local_databricks, "POST", "/api/1.2/contexts/create", body)
        assert status == 400 and field in answer["message"], answer
    status, _, answer = raw(local_databricks, "POST", "/api/1.2/contexts/create", b"{oops")
    assert status == 400 and answer["error_code"] == "MALFORMED_REQUEST"
    context = w.command_execution.create_and_wait(cluster_id=cluster_id, language=PY)
    status, _, answer = raw(
        local_databricks,
        "POST",
        "/api/1.2/commands/execute",
        {"clusterId": cluster_id, "contextId": context.id, "language": "python"},
    )
    assert status == 400 and "command" in answer["message"]
    w.clusters.delete(cluster_id)  # terminating the cluster loses its contexts
    status = w.command_execution.context_status(cluster_id=cluster_id, context_id=context.id)
    assert status.status == compute.ContextStatus.ERROR
