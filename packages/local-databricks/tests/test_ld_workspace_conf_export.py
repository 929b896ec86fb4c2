"""workspace-conf and jobs/runs/export through the SDK's own methods."""

import pytest
from databricks.sdk.errors import InvalidParameterValue
from databricks.sdk.service import jobs
from ld_helpers import raw, write_file

CLUSTER = {"spark_version": "16.4.x-scala2.12", "node_type_id": "i3.xlarge", "num_workers": 0}


def test_workspace_conf(local_databricks, w):
    keys = "enableTokensConfig,maxTokenLifetimeDays"
    assert w.workspace_conf.get_status(keys) == {
        "enableTokensConfig": "true",
        "maxTokenLifetimeDays": None,
    }
    w.workspace_conf.set_status({"enableTokensConfig": "false", "maxTokenLifetimeDays": "90"})
    assert w.workspace_conf.get_status(keys) == {
        "enableTokensConfig": "false",
        "maxTokenLifetimeDays": "90",
    }
    with pytest.raises(InvalidParameterValue, match="Invalid keys"):
        w.workspace_conf.get_status("noSuchKey")
    with pytest.raises(InvalidParameterValue, match="enableTokensConfig"):
        w.workspace_conf.set_status({"enableTokensConfig": "maybe"})
    status, _, body = raw(
        local_databricks, "PATCH", "/api/2.0/workspace-conf", {"enableWebTerminal": True}
    )
    assert status == 400 and "enableWebTerminal" in body["message"]
    local_databricks.reset()
    assert w.workspace_conf.get_status("enableTokensConfig") == {"enableTokensConfig": "true"}


def test_export_a_notebook_run(local_databricks, w, script):
    source = "# Databricks notebook source\nprint('<hello>')\ndbutils.notebook.exit('done')\n"
    write_file(local_databricks, "/Workspace/Shared/export_nb.py", source)
    task = jobs.SubmitTask.from_dict(
        {
            "task_key": "nb",
            "new_cluster": CLUSTER,
            "notebook_task": {"notebook_path": "/Shared/export_nb"},
        }
    )
    run = w.jobs.submit(tasks=[task]).result()
    exported = w.jobs.export_run(run.tasks[0].run_id)
    [view] = exported.views
    assert view.type == jobs.ViewType.NOTEBOOK and view.name == "export_nb"
    assert "print(&#x27;&lt;hello&gt;&#x27;)" in view.content  # the source, escaped
    assert "&lt;hello&gt;" in view.content.split("Output", 1)[1] and "done" in view.content
    assert w.jobs.export_run(run.run_id).views[0].name == "export_nb"  # a one-task run
    assert w.jobs.export_run(run.run_id, views_to_export=jobs.ViewsToExport.DASHBOARDS).views == []
    path = script("print(1)\n")
    other = w.jobs.submit(
        tasks=[jobs.SubmitTask.from_dict({"task_key": "py", "new_cluster": CLUSTER,
                                          "spark_python_task": {"python_file": path}})]
    ).result()  # fmt: skip
    with pytest.raises(InvalidParameterValue, match="not a notebook task run"):
        w.jobs.export_run(other.run_id)
    with pytest.raises(InvalidParameterValue, match="does not exist"):
        w.jobs.export_run(12345)
    status, _, body = raw(
        local_databricks, "GET", f"/api/2.2/jobs/runs/export?run_id={run.run_id}&views_to_export=X"
    )
    assert status == 400 and "views_to_export" in body["message"]
