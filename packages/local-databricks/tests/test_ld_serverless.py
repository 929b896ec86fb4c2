"""Serverless compute for jobs switched off: serverless tasks refused, the setting readable."""

import pytest
from databricks.sdk.errors import InvalidParameterValue
from ld_helpers import raw

SERVERLESS_RUN = {
    "run_name": "s",
    "tasks": [
        {
            "task_key": "t",
            "spark_python_task": {"python_file": "dbfs:/scripts/a.py"},
            "environment_key": "e",
        }
    ],
    "environments": [{"environment_key": "e", "spec": {"client": "2"}}],
}


def setting(server) -> tuple[int, dict]:
    path = f"/api/2.0/settings-api/workspace/{server.workspace_id}/serverless_jobs_ws_nb_enable"
    status, _, body = raw(server, "GET", path)
    return status, body


def enabled(server) -> str:
    status, body = setting(server)
    assert status == 200
    return body["setting"]["value"]["serverless_jobs_notebooks_workspace_enable_val"]["value"]


def test_switch_off_and_on(local_databricks, w, script):
    script("print('hi')\n", "a.py")
    assert enabled(local_databricks) == "ENABLED"
    job_id = w.api_client.do("POST", "/api/2.2/jobs/create", body={
        "name": "j", "tasks": SERVERLESS_RUN["tasks"],
        "environments": SERVERLESS_RUN["environments"]})["job_id"]  # fmt: skip
    local_databricks.set_serverless_enabled(False)
    assert enabled(local_databricks) == "DISABLED"
    for path, body in (
        ("/api/2.2/jobs/runs/submit", SERVERLESS_RUN),
        ("/api/2.2/jobs/create", {"name": "j2", **SERVERLESS_RUN}),
        ("/api/2.2/jobs/run-now", {"job_id": job_id}),
    ):
        with pytest.raises(
            InvalidParameterValue, match=r"Serverless compute is not enabled.*task t"
        ):
            w.api_client.do("POST", path, body=body)
    classic = {
        "run_name": "c",
        "tasks": [{
            "task_key": "c", "spark_python_task": {"python_file": "dbfs:/scripts/a.py"},
            "new_cluster": {"spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge",
                            "num_workers": 0}}],
    }  # fmt: skip
    run_id = w.api_client.do("POST", "/api/2.2/jobs/runs/submit", body=classic)["run_id"]
    assert w.jobs.wait_get_run_job_terminated_or_skipped(run_id).state.result_state.value == (
        "SUCCESS"
    )
    local_databricks.set_serverless_enabled(True)
    assert enabled(local_databricks) == "ENABLED"
    run_id = w.api_client.do("POST", "/api/2.2/jobs/runs/submit", body=SERVERLESS_RUN)["run_id"]
    assert w.jobs.wait_get_run_job_terminated_or_skipped(run_id).state.result_state.value == (
        "SUCCESS"
    )


def test_admin_control_and_settings_errors(local_databricks):
    admin = local_databricks.admin_token
    for value, expected in ((False, "DISABLED"), (True, "ENABLED")):
        status, _, body = raw(
            local_databricks, "POST", "/__local-databricks/serverless", {"enabled": value}, admin
        )
        assert status == 200 and body == {"enabled": value}
        assert enabled(local_databricks) == expected
    status, _, body = raw(local_databricks, "GET", "/__local-databricks/serverless", token=admin)
    assert body == {"enabled": True}
    status, _, body = raw(
        local_databricks, "POST", "/__local-databricks/serverless", {"enabled": "no"}, admin
    )
    assert status == 400 and "enabled" in body["message"]
    status, _, body = raw(local_databricks, "POST", "/__local-databricks/serverless", {}, admin)
    assert status == 400 and "enabled" in body["message"]
    path = "/api/2.0/settings-api/workspace/999/serverless_jobs_ws_nb_enable"
    assert raw(local_databricks, "GET", path)[0] == 404


def test_constructor_and_cli(tmp_path):
    from local_databricks import LocalDatabricks
    from local_databricks.cli import build_parser

    with LocalDatabricks(root=tmp_path, serverless_enabled=False) as ld:
        assert enabled(ld) == "DISABLED"
    assert build_parser().parse_args(["--no-serverless"]).no_serverless is True
