"""Deploy a project's Databricks Asset Bundle (``databricks.yml`` and the resource files it
includes) to local Databricks as ``databricks bundle deploy`` deploys it to a workspace: each
job's task files are uploaded under the target's ``workspace.file_path``, then the job is
created, or reset to the bundle's settings. Local runs and tests then find the jobs by the
names the bundle gives them, as the code location does on a workspace.

Only the part of the bundle format this project uses is read: job resources, variables with
defaults (``BUNDLE_VAR_<name>`` overrides them, as for the CLI), targets with a workspace and
variables, ``${...}`` references to those, and ``python_file`` paths relative to the resource
file. Anything else is an error that says to deploy with the CLI.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from .project import api_call

if TYPE_CHECKING:
    from .api import LocalDatabricks

REFERENCE = re.compile(r"\$\{([A-Za-z0-9_.-]+)\}")
# Keys a job may not have: Dagster decides when the bundle's jobs run.
SCHEDULERS = ("schedule", "trigger", "continuous")
TARGET_KEYS = {"default", "mode", "workspace", "variables", "presets"}


class BundleError(ValueError):
    """The bundle is malformed, or uses more of the format than this module reads."""


@dataclass(frozen=True)
class Bundle:
    """A bundle read for one target: each job as ``jobs/create`` takes it, and the local
    file behind each workspace path its tasks name."""

    root: Path
    target: str
    jobs: dict[str, dict[str, Any]]
    files: dict[str, Path]  # "/Workspace/..." -> local file


def _read_yaml(path: Path) -> dict[str, Any]:
    import yaml  # pyyaml: a dependency of the projects that have bundles (dagster's too)

    try:
        loaded = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise BundleError(f"{path} is not valid YAML: {error}") from error
    if not isinstance(loaded, dict):
        raise BundleError(f"{path} must be a mapping, e.g. 'bundle:\n  name: my-project'.")
    return loaded


def _choose_target(targets: dict[str, Any], target: str | None, path: Path) -> str:
    if target is None:
        defaults = [name for name, spec in targets.items() if (spec or {}).get("default")]
        if len(defaults) != 1 and len(targets) != 1:
            raise BundleError(f"{path}: name a target ({sorted(targets)}) or mark one default.")
        target = defaults[0] if defaults else next(iter(targets))
    if target not in targets:
        raise BundleError(f"{path} has no target '{target}'; its targets: {sorted(targets)}.")
    unknown = set(targets[target] or {}) - TARGET_KEYS
    if unknown:
        raise BundleError(
            f"{path}: target '{target}' sets {sorted(unknown)}, which local-databricks does "
            "not read; deploy this bundle with `databricks bundle deploy`."
        )
    return target


def _variables(config: dict[str, Any], target_spec: dict[str, Any], path: Path) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, spec in (config.get("variables") or {}).items():
        if isinstance(spec, dict) and "default" in spec:
            values[name] = spec["default"]
    for name, value in (target_spec.get("variables") or {}).items():
        values[name] = value["default"] if isinstance(value, dict) else value
    for name in config.get("variables") or {}:
        if f"BUNDLE_VAR_{name}" in os.environ:
            values[name] = os.environ[f"BUNDLE_VAR_{name}"]
        if name not in values:
            raise BundleError(
                f"{path}: variable '{name}' has no value; give it a default or set "
                f"BUNDLE_VAR_{name}, e.g. BUNDLE_VAR_{name}=value."
            )
    return values


def _resolve(value: Any, context: dict[str, Any], where: str) -> Any:
    """``value`` with every ``${name}`` replaced from ``context`` (references may nest)."""
    if isinstance(value, dict):
        return {key: _resolve(item, context, where) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolve(item, context, where) for item in value]
    if not isinstance(value, str):
        return value
    for _ in range(10):  # a reference's value may hold references itself
        match = REFERENCE.search(value)
        if match is None:
            return value
        name = match.group(1)
        if name not in context:
            raise BundleError(
                f"{where}: unknown reference {match.group(0)}; local-databricks knows "
                f"{', '.join('${' + known + '}' for known in sorted(context))}."
            )
        if match.group(0) == value and not isinstance(context[name], str):
            return context[name]  # a whole-value reference keeps its type (e.g. a number)
        value = value.replace(match.group(0), str(context[name]))
    raise BundleError(f"{where}: references nest too deep in {value!r}.")


def _jobs(root: Path, config: dict[str, Any]) -> dict[str, tuple[dict[str, Any], Path]]:
    """Every job resource of the bundle, with the file that defines it."""
    found: dict[str, tuple[dict[str, Any], Path]] = {}
    sources = [(root / "databricks.yml", config)]
    for pattern in config.get("include") or []:
        sources += [(path, _read_yaml(path)) for path in sorted(root.glob(pattern))]
    for path, document in sources:
        extra = set(document) - {"resources"} if path.name != "databricks.yml" else set()
        kinds = set(document.get("resources") or {}) - {"jobs"}
        if extra or kinds:
            raise BundleError(
                f"{path} defines {sorted(extra | kinds)}; local-databricks reads only job "
                "resources (resources: {jobs: ...}): deploy this bundle with the Databricks CLI."
            )
        for key, job in ((document.get("resources") or {}).get("jobs") or {}).items():
            if key in found:
                raise BundleError(f"Job '{key}' is defined in {found[key][1]} and in {path}.")
            scheduled = [name for name in SCHEDULERS if name in job]
            if scheduled:
                raise BundleError(
                    f"{path}: job '{key}' has {scheduled[0]}; Dagster decides when the bundle's "
                    "jobs run (a schedule here would trigger it twice): remove it."
                )
            found[key] = (job, path)
    return found


def load_bundle(root: Path, target: str | None = None) -> Bundle:
    """Read ``root/databricks.yml`` for ``target`` (the default target when None)."""
    path = root / "databricks.yml"
    if not path.is_file():
        raise BundleError(f"No databricks.yml in {root}: the bundle of this project is missing.")
    config = _read_yaml(path)
    name = (config.get("bundle") or {}).get("name")
    if not name:
        raise BundleError(f"{path} has no bundle name, e.g. 'bundle:\n  name: my-project'.")
    targets = config.get("targets") or {"default": {}}
    target = _choose_target(targets, target, path)
    target_spec = targets[target] or {}
    workspace = {**(config.get("workspace") or {}), **(target_spec.get("workspace") or {})}
    if "root_path" not in workspace:
        raise BundleError(
            f"{path}: target '{target}' needs workspace.root_path, e.g. "
            "/Workspace/Shared/dagster/${bundle.name}/${bundle.target}."
        )
    context: dict[str, Any] = {"bundle.name": name, "bundle.target": target}
    context |= {f"var.{k}": v for k, v in _variables(config, target_spec, path).items()}
    context["workspace.root_path"] = _resolve(workspace["root_path"], context, str(path))
    file_path = workspace.get("file_path", "${workspace.root_path}/files")
    context["workspace.file_path"] = _resolve(file_path, context, str(path))

    jobs: dict[str, dict[str, Any]] = {}
    files: dict[str, Path] = {}
    for key, (job, source) in _jobs(root, config).items():
        settings = _resolve(job, context, f"{source}: job '{key}'")
        for task in settings.get("tasks", []):
            python = task.get("spark_python_task") or {}
            relative = python.get("python_file", "")
            if not relative or relative.startswith("/") or "://" in relative:
                continue  # already a workspace, volume or cloud path
            local = (source.parent / relative).resolve()
            if not local.is_file() or not local.is_relative_to(root.resolve()):
                raise BundleError(
                    f"{source}: task '{task.get('task_key')}' names {relative}, which is not a "
                    f"file of the bundle (paths are relative to {source.name})."
                )
            remote = f"{context['workspace.file_path']}/{local.relative_to(root.resolve())}"
            python["python_file"] = remote
            files[remote] = local
        jobs[key] = settings
    return Bundle(root=root, target=target, jobs=jobs, files=files)


def find_job(server: LocalDatabricks, name: str) -> int | None:
    """The id of the job named ``name``; an error if several jobs share the name."""
    from urllib.parse import quote

    answer = api_call(server, "GET", f"/api/2.2/jobs/list?name={quote(name)}&limit=100")
    ids = [job["job_id"] for job in answer.get("jobs", [])]
    if len(ids) > 1:
        raise BundleError(f"Several jobs are named '{name}': {ids}.")
    return ids[0] if ids else None


def ensure_job(server: LocalDatabricks, settings: dict[str, Any]) -> int:
    """Create the job ``settings["name"]``, or reset it to ``settings``; return its id."""
    job_id = find_job(server, settings["name"])
    if job_id is None:
        return api_call(server, "POST", "/api/2.2/jobs/create", settings)["job_id"]
    api_call(server, "POST", "/api/2.2/jobs/reset", {"job_id": job_id, "new_settings": settings})
    return job_id


def deploy_job(server: LocalDatabricks, bundle: Bundle, key: str) -> int:
    """Upload the task files of the bundle's job ``key``, then create or reset the job."""
    import base64

    settings = bundle.jobs[key]
    for task in settings.get("tasks", []):
        remote = (task.get("spark_python_task") or {}).get("python_file")
        if remote in bundle.files:
            # The Workspace API takes paths without the /Workspace prefix jobs use.
            target = PurePosixPath(remote.removeprefix("/Workspace"))
            api_call(server, "POST", "/api/2.0/workspace/mkdirs", {"path": str(target.parent)})
            content = base64.b64encode(bundle.files[remote].read_bytes()).decode()
            body = {"path": str(target), "content": content, "format": "AUTO", "overwrite": True}
            api_call(server, "POST", "/api/2.0/workspace/import", body)
    return ensure_job(server, settings)


def deploy_bundle(server: LocalDatabricks, root: Path, target: str | None = None) -> list[int]:
    """Deploy every job of the bundle at ``root`` (``databricks.yml``) to ``server``."""
    bundle = load_bundle(root, target)
    return [deploy_job(server, bundle, key) for key in sorted(bundle.jobs)]
