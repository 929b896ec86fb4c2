"""Reading a bundle for one target: `load_bundle` and its variables, references, presets and
root paths; `BundleError` for what it refuses."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .user import CurrentUser

REFERENCE = re.compile(r"\$\{([A-Za-z0-9_.-]+)\}")
# What a schedule-like setting of a job is called; presets pause them (development mode).
SCHEDULERS = ("schedule", "trigger", "continuous")
TARGET_KEYS = {"default", "mode", "workspace", "variables", "presets"}
# Presets for jobs; the others concern resources this module does not read (pipelines,
# artifacts) and change nothing here. source_linked_deployment changes the file paths: refused.
JOB_PRESETS = {"name_prefix", "tags", "trigger_pause_status", "jobs_max_concurrent_runs"}
IGNORED_PRESETS = {"pipelines_development", "artifacts_dynamic_version"}
PAUSE_STATUSES = ("PAUSED", "UNPAUSED")
DEVELOPMENT_CONCURRENT_RUNS = 4  # the CLI's default for jobs of a development target


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
    root_path: str = ""  # the target's workspace.root_path ("/Workspace/...")
    variables: dict[str, Any] = field(default_factory=dict)  # each variable's resolved value


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


def _variables(
    config: dict[str, Any],
    target: str,
    target_spec: dict[str, Any],
    overrides: dict[str, Any],
    path: Path,
) -> dict[str, Any]:
    """Each variable's value, unresolved: an override (``--var``), else ``BUNDLE_VAR_<name>``,
    else the target's value, else the default (the CLI's order)."""
    declared = config.get("variables") or {}
    target_values = target_spec.get("variables") or {}
    for name in [*overrides, *target_values]:
        if name not in declared:
            raise BundleError(
                f"{path}: variable '{name}' is given a value (target '{target}' or an override) "
                f"but not declared; declare it under variables: ({sorted(declared)} are)."
            )
    values: dict[str, Any] = {}
    for name, spec in declared.items():
        for given in (spec, target_values.get(name)):
            if isinstance(given, dict) and ("lookup" in given or given.get("type") == "complex"):
                raise BundleError(
                    f"{path}: variable '{name}' is a lookup or complex variable, which "
                    "local-databricks does not resolve; give it a plain value."
                )
        if isinstance(spec, dict) and "default" in spec:
            values[name] = spec["default"]
        if name in target_values:
            value = target_values[name]
            values[name] = value.get("default") if isinstance(value, dict) else value
        if f"BUNDLE_VAR_{name}" in os.environ:
            values[name] = os.environ[f"BUNDLE_VAR_{name}"]
        if name in overrides:
            values[name] = overrides[name]
        if values.get(name) is None:
            raise BundleError(
                f"{path}: variable '{name}' has no value for target '{target}': pass it with "
                f"--var {name}=<value> (variables={{'{name}': ...}} in Python) or "
                f"BUNDLE_VAR_{name}=<value>, or give it a default."
            )
    return values


def _resolve(value: Any, context: dict[str, Any], where: str) -> Any:
    """``value`` with every ``${name}`` replaced from ``context`` (references may nest);
    ``{{...}}`` dynamic value references are left for the run."""
    if isinstance(value, dict):
        return {key: _resolve(item, context, where) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolve(item, context, where) for item in value]
    if not isinstance(value, str):
        return value

    def lookup(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in context:
            return str(context[name])
        hint = ""
        if name.startswith("workspace.current_user."):
            hint = " (the current user is known when deploying: load_bundle(current_user=...))"
        raise BundleError(
            f"{where}: unknown reference {match.group(0)}{hint}; local-databricks knows "
            f"{', '.join('${' + known + '}' for known in sorted(context))}."
        )

    for _ in range(10):  # a reference's value may hold references itself
        match = REFERENCE.fullmatch(value)
        if match and match.group(1) in context and not isinstance(context[match.group(1)], str):
            return context[match.group(1)]  # a whole-value reference keeps its type
        if REFERENCE.search(value) is None:
            return value
        value = REFERENCE.sub(lookup, value)
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
            found[key] = (job, path)
    return found


def _presets(
    config: dict[str, Any], target: str, spec: dict[str, Any], user: CurrentUser | None, path: Path
) -> dict[str, Any]:
    """The target's presets, with what ``mode: development`` adds where they are unset
    (the CLI's ``ApplyTargetMode``)."""
    presets = {**(config.get("presets") or {}), **(spec.get("presets") or {})}
    unknown = set(presets) - JOB_PRESETS - IGNORED_PRESETS
    if unknown:
        raise BundleError(
            f"{path}: target '{target}' presets {sorted(unknown)} are not read by "
            "local-databricks; deploy this bundle with `databricks bundle deploy`."
        )
    mode = spec.get("mode")
    if mode not in (None, "development", "production"):
        raise BundleError(f"{path}: target '{target}' mode must be development or production.")
    if mode == "development":
        if user is None:
            raise BundleError(
                f"{path}: target '{target}' is in development mode, which names jobs after the "
                "current user: pass current_user= (deploy_bundle reads it from the server)."
            )
        if not presets.get("name_prefix"):
            presets["name_prefix"] = f"[dev {user.short_name}] "
        presets["tags"] = {"dev": user.short_name, **(presets.get("tags") or {})}
        presets["jobs_max_concurrent_runs"] = (
            presets.get("jobs_max_concurrent_runs") or DEVELOPMENT_CONCURRENT_RUNS
        )
        presets["trigger_pause_status"] = presets.get("trigger_pause_status") or "PAUSED"
    if presets.get("trigger_pause_status") not in (None, "", *PAUSE_STATUSES):
        raise BundleError(
            f"{path}: target '{target}' presets.trigger_pause_status must be PAUSED or UNPAUSED."
        )
    return presets


def _apply_presets(job: dict[str, Any], presets: dict[str, Any]) -> None:
    """The CLI's ``ApplyPresets`` for a job: the prefix as given (no space added), tags the job
    leaves unset or empty, the concurrency limit if the job sets none, and the pause status of
    each schedule, trigger and continuous setting that has none."""
    job["name"] = (presets.get("name_prefix") or "") + job.get("name", "")
    tags = presets.get("tags") or {}
    if tags:
        job_tags = job.setdefault("tags", {})
        for key in sorted(tags):
            if not job_tags.get(key):
                job_tags[key] = tags[key]
    if not job.get("max_concurrent_runs") and presets.get("jobs_max_concurrent_runs"):
        job["max_concurrent_runs"] = presets["jobs_max_concurrent_runs"]
    if presets.get("trigger_pause_status"):
        for name in SCHEDULERS:
            if isinstance(job.get(name), dict) and not job[name].get("pause_status"):
                job[name]["pause_status"] = presets["trigger_pause_status"]


def _workspace_path(path: str, user: CurrentUser | None, where: str) -> str:
    """``~/...`` in the user's home, and ``/Users/...`` or ``/Shared/...`` under ``/Workspace``,
    as the CLI expands them."""
    if path.startswith("~/"):
        if user is None:
            raise BundleError(f"{where}: '~' needs the current user: pass current_user=.")
        path = f"/Workspace/Users/{user.user_name}/{path[2:]}"
    if path.startswith("/") and not path.startswith(("/Workspace/", "/Volumes/")):
        path = "/Workspace" + path
    return path.rstrip("/")


def load_bundle(
    root: Path,
    target: str | None = None,
    variables: dict[str, Any] | None = None,
    current_user: CurrentUser | None = None,
) -> Bundle:
    """Read ``root/databricks.yml`` for ``target`` (the default target when None), with
    ``variables`` overriding the bundle's values (``--var name=value``) and ``current_user``
    for ``${workspace.current_user.*}``, development mode and the default root path."""
    root = Path(root)
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
    user = current_user
    context: dict[str, Any] = {"bundle.name": name, "bundle.target": target}
    if user is not None:
        context |= user.references()
    values = _variables(config, target, target_spec, dict(variables or {}), path)
    context |= {f"var.{key}": value for key, value in values.items()}
    presets = _presets(config, target, target_spec, user, path)
    workspace = {**(config.get("workspace") or {}), **(target_spec.get("workspace") or {})}
    if "root_path" not in workspace:
        if target_spec.get("mode") == "production":
            raise BundleError(
                f"{path}: target '{target}' has mode: production, which must set "
                "workspace.root_path (one copy per target), e.g. "
                "/Workspace/Shared/dagster/${bundle.name}/${bundle.target}."
            )
        if user is None:
            raise BundleError(
                f"{path}: target '{target}' sets no workspace.root_path, whose default is in "
                "the current user's home: pass current_user= or set root_path."
            )
        workspace["root_path"] = "~/.bundle/${bundle.name}/${bundle.target}"
    root_path = _resolve(workspace["root_path"], context, str(path))
    context["workspace.root_path"] = _workspace_path(root_path, user, str(path))
    file_path = _resolve(
        workspace.get("file_path", "${workspace.root_path}/files"), context, str(path)
    )
    context["workspace.file_path"] = _workspace_path(file_path, user, str(path))
    presets = _resolve(presets, context, str(path))

    jobs: dict[str, dict[str, Any]] = {}
    files: dict[str, Path] = {}
    for key, (job, source) in _jobs(root, config).items():
        settings = _resolve(job, context, f"{source}: job '{key}'")
        _apply_presets(settings, presets)
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
    resolved = {key: _resolve(value, context, str(path)) for key, value in values.items()}
    return Bundle(
        root=root,
        target=target,
        jobs=jobs,
        files=files,
        root_path=context["workspace.root_path"],
        variables=resolved,
    )
