"""Deploying a bundle read by `load_bundle` to a workspace, and destroying what was deployed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from .reading import Bundle, BundleError, load_bundle
from .rest import Server, _call
from .user import current_user


def find_job(server: Server, name: str) -> int | None:
    """The id of the job named ``name``; an error if several jobs share the name."""
    answer = _call(server, "GET", f"/api/2.2/jobs/list?name={quote(name)}&limit=100") or {}
    ids = [job["job_id"] for job in answer.get("jobs", [])]
    if len(ids) > 1:
        raise BundleError(f"Several jobs are named '{name}': {ids}.")
    return ids[0] if ids else None


def ensure_job(server: Server, settings: dict[str, Any]) -> int:
    """Create the job ``settings["name"]``, or reset it to ``settings``; return its id."""
    job_id = find_job(server, settings["name"])
    if job_id is None:
        return (_call(server, "POST", "/api/2.2/jobs/create", settings) or {})["job_id"]
    _call(server, "POST", "/api/2.2/jobs/reset", {"job_id": job_id, "new_settings": settings})
    return job_id


def _workspace_api_path(path: str) -> str:
    """The Workspace API takes paths without the ``/Workspace`` prefix jobs use."""
    return path.removeprefix("/Workspace") or "/"


def deploy_job(server: Server, bundle: Bundle, key: str) -> int:
    """Upload the task files of the bundle's job ``key``, then create or reset the job."""
    import base64

    settings = bundle.jobs[key]
    for task in settings.get("tasks", []):
        remote = (task.get("spark_python_task") or {}).get("python_file")
        if remote in bundle.files:
            target = PurePosixPath(_workspace_api_path(remote))
            _call(server, "POST", "/api/2.0/workspace/mkdirs", {"path": str(target.parent)})
            content = base64.b64encode(bundle.files[remote].read_bytes()).decode()
            body = {"path": str(target), "content": content, "format": "AUTO", "overwrite": True}
            _call(server, "POST", "/api/2.0/workspace/import", body)
    return ensure_job(server, settings)


def deploy_bundle(
    server: Server,
    root: Path,
    target: str | None = None,
    variables: dict[str, Any] | None = None,
) -> list[int]:
    """Deploy every job of the bundle at ``root`` (``databricks.yml``) for ``target`` to
    ``server``, as its token's user (``${workspace.current_user.*}``); ``variables`` override
    the bundle's (``--var``). The job ids, in the order of the job keys."""
    bundle = load_bundle(root, target, variables, current_user=current_user(server))
    return [deploy_job(server, bundle, key) for key in sorted(bundle.jobs)]


@dataclass(frozen=True)
class Destroyed:
    """What `destroy_bundle` deleted: each job key's job id (the keys of jobs that were not
    deployed are absent), and the target's root path (None if it did not exist)."""

    jobs: dict[str, int]
    root_path: str | None


def destroy_bundle(
    server: Server,
    root: Path,
    target: str | None = None,
    variables: dict[str, Any] | None = None,
) -> Destroyed:
    """Delete what `deploy_bundle` deployed for ``target`` as ``server``'s user, as
    ``databricks bundle destroy`` does: the target's jobs (found by name) and its workspace
    root path with every file under it. Other targets' and users' deployments are left."""
    bundle = load_bundle(root, target, variables, current_user=current_user(server))
    deleted: dict[str, int] = {}
    for key in sorted(bundle.jobs):
        job_id = find_job(server, bundle.jobs[key]["name"])
        if job_id is not None:
            _call(server, "POST", "/api/2.2/jobs/delete", {"job_id": job_id})
            deleted[key] = job_id
    folder = _workspace_api_path(bundle.root_path)
    status = _call(server, "GET", f"/api/2.0/workspace/get-status?path={quote(folder)}", None, True)
    if status is not None:
        _call(server, "POST", "/api/2.0/workspace/delete", {"path": folder, "recursive": True})
    return Destroyed(jobs=deleted, root_path=bundle.root_path if status is not None else None)
