"""Maintained by the template; changes arrive with `copier update`.

Deploy the Databricks jobs this project triggers with run-now, for local Databricks and
for teams without a deployment tool.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import dagster as dg

from .workspace import DatabricksWorkspace

if TYPE_CHECKING:
    from databricks.sdk import WorkspaceClient

# The jobs this project runs with run-now, as ``jobs/create`` JSON (see deploy_jobs).
JOBS_DIR = Path(__file__).resolve().parents[3] / "databricks" / "jobs"


def find_job(client: WorkspaceClient, name: str) -> int | None:
    """The id of the job named ``name``; an error if several jobs share the name."""
    ids = [job.job_id for job in client.jobs.list(name=name) if job.job_id is not None]
    if len(ids) > 1:
        raise dg.Failure(description=f"Several Databricks jobs are named '{name}': {ids}.")
    return ids[0] if ids else None


def ensure_job(client: WorkspaceClient, settings: dict[str, Any]) -> int:
    """Create the job ``settings["name"]``, or reset it to ``settings``; return its id."""
    job_id = find_job(client, settings["name"])
    if job_id is None:
        return client.api_client.do("POST", "/api/2.1/jobs/create", body=settings)["job_id"]
    client.api_client.do(
        "POST", "/api/2.1/jobs/reset", body={"job_id": job_id, "new_settings": settings}
    )
    return job_id


def deploy_job(client: WorkspaceClient, definition: Path) -> int:
    """Deploy ``<name>.job.json`` (``jobs/create`` JSON) and the task files of its folder.

    Each ``spark_python_task.python_file`` is uploaded from ``<name>/`` next to the definition.
    """
    from databricks.sdk.service.workspace import ImportFormat

    settings = json.loads(definition.read_text())
    source_dir = definition.parent / definition.name.removesuffix(".job.json")
    for task in settings.get("tasks", []):
        remote = task.get("spark_python_task", {}).get("python_file")
        if remote:
            target = PurePosixPath(remote.removeprefix("/Workspace"))
            client.workspace.mkdirs(str(target.parent))
            content = (source_dir / target.name).read_bytes()
            client.workspace.upload(str(target), content, format=ImportFormat.AUTO, overwrite=True)
    return ensure_job(client, settings)


def deploy_jobs(folder: Path = JOBS_DIR) -> list[int]:
    """Deploy every ``*.job.json`` of ``folder`` to the workspace of the environment."""
    client = DatabricksWorkspace.from_env().process_config_and_initialize().get_client()
    return [deploy_job(client, definition) for definition in sorted(folder.glob("*.job.json"))]
