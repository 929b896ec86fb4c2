"""Serverless compute for jobs on or off, as a workspace setting, and what it refuses when off.

With it off, runs/submit, jobs/create, jobs/reset, jobs/update and jobs/run-now of settings
with a serverless task (an `environment_key`, or a notebook task without compute) get 400
INVALID_PARAMETER_VALUE naming the task. The setting is readable as the workspace settings API
answers it (`GET /api/2.0/settings-api/workspace/{workspace_id}/serverless_jobs_ws_nb_enable`,
an internal API of the service that the Databricks VS Code extension reads).
"""

from __future__ import annotations

from .errors import ApiError
from .routing import Request, Router
from .runs import RunConfig
from .util import WORKSPACE_ID

SETTING = "serverless_jobs_ws_nb_enable"
COMPUTE_FIELDS = ("existing_cluster_id", "new_cluster", "job_cluster_key")


def serverless_tasks(settings: dict) -> list[str]:
    """The keys of the tasks of job settings that run on serverless compute."""
    keys = []
    for task in settings.get("tasks") or []:
        if not isinstance(task, dict) or any(task.get(f) for f in COMPUTE_FIELDS):
            continue
        if task.get("environment_key") or task.get("notebook_task"):
            keys.append(str(task.get("task_key")))
    return keys


class ServerlessSetting:
    """The switch (RunConfig.serverless_enabled), its settings API read and the jobs check."""

    def __init__(self, config: RunConfig) -> None:
        self.config = config

    def register(self, router: Router) -> None:
        """Add the settings API read of the switch."""
        router.add("GET", r"/api/2\.0/settings-api/workspace/([^/]+)/" + SETTING, self.get)

    def check(self, settings: dict) -> None:
        """400 when serverless compute is off and `settings` has a serverless task."""
        if self.config.serverless_enabled:
            return
        keys = serverless_tasks(settings)
        if keys:
            raise ApiError(
                400,
                "INVALID_PARAMETER_VALUE",
                f"Serverless compute is not enabled for this workspace (task {keys[0]} has no "
                "cluster). Please ask a workspace admin to enable serverless compute, or give "
                "the task a cluster (new_cluster, job_cluster_key or existing_cluster_id).",
            )

    def get(self, req: Request) -> dict:
        """GET settings-api/workspace/{id}/serverless_jobs_ws_nb_enable."""
        if req.group(1) != WORKSPACE_ID:
            raise ApiError(
                404, "RESOURCE_DOES_NOT_EXIST", f"Workspace {req.group(1)} does not exist."
            )
        value = "ENABLED" if self.config.serverless_enabled else "DISABLED"
        return {
            "setting": {
                "name": SETTING,
                "value": {"serverless_jobs_notebooks_workspace_enable_val": {"value": value}},
            }
        }
