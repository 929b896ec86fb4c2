"""Job settings and task specs: validation (every wrong field a 400 naming it, the dependency
graph acyclic) and the spec of each task for one run (dynamic value references, parameters)."""

from __future__ import annotations

import copy
import re

from .errors import invalid
from .routing import check_dict, check_int, check_list, check_str, check_str_list, check_str_map

SUPPORTED_TASK_TYPES = ("spark_python_task", "notebook_task", "python_wheel_task")
OTHER_TASK_TYPES = (
    "spark_jar_task",
    "spark_submit_task",
    "sql_task",
    "dbt_task",
    "dbt_cloud_task",
    "dbt_platform_task",
    "pipeline_task",
    "run_job_task",
    "condition_task",
    "for_each_task",
    "clean_rooms_notebook_task",
    "dashboard_task",
    "power_bi_task",
    "gen_ai_compute_task",
)
RUN_IF_VALUES = (
    "ALL_SUCCESS",
    "ALL_DONE",
    "NONE_FAILED",
    "AT_LEAST_ONE_SUCCESS",
    "ALL_FAILED",
    "AT_LEAST_ONE_FAILED",
)
# The service's task_key pattern (`^[\w\-\_]+$`, at most 100 characters). No dots, no slashes:
# a key is also a directory name under the run's directory.
_TASK_KEY_RE = re.compile(r"[\w\-]{1,100}", re.ASCII)
_REF_RE = re.compile(r"\{\{\s*([\w.\-]+)\s*\}\}")


def validate_settings(settings: dict, submit: bool) -> None:
    """Reject what the service rejects, and what local-databricks cannot run, with 400s."""
    _check_shapes(settings)
    if settings.get("git_source"):
        raise invalid(
            "git_source is not supported by local-databricks: upload the files to the workspace, "
            "a volume or DBFS (or use a file:/ path) and reference them with source WORKSPACE."
        )
    tasks = settings.get("tasks")
    if submit and not tasks:
        raise invalid("At least one task is required.")
    if tasks is not None and not isinstance(tasks, list):
        raise invalid("tasks must be a list.")
    job_clusters = {c.get("job_cluster_key") for c in settings.get("job_clusters") or []}
    for cluster in settings.get("job_clusters") or []:
        if not cluster.get("job_cluster_key") or not isinstance(cluster.get("new_cluster"), dict):
            raise invalid("Each job cluster needs a job_cluster_key and a new_cluster.")
    environments = {e.get("environment_key") for e in settings.get("environments") or []}
    keys: set[str] = set()
    for task in tasks or []:
        _validate_task(task, keys, job_clusters, environments)
    graph = {t["task_key"]: [d["task_key"] for d in t.get("depends_on") or []] for t in tasks or []}
    for task_key, deps in graph.items():
        for dep in deps:
            if dep not in graph:
                raise invalid(f"Task {task_key} depends on {dep}, which does not exist.")
    _check_acyclic(graph)
    timeout = settings.get("timeout_seconds")
    if timeout is not None and (not isinstance(timeout, int) or timeout < 0):
        raise invalid("timeout_seconds must be a non-negative integer.")


def _check_shapes(settings: dict) -> None:
    """400 naming the field for every wrong-typed field local-databricks reads."""
    check_str(settings.get("name"), "name")
    check_str(settings.get("run_name"), "run_name")
    check_int(settings.get("timeout_seconds"), "timeout_seconds")
    check_int(settings.get("max_concurrent_runs"), "max_concurrent_runs")
    check_dict(settings.get("queue"), "queue")
    for index, cluster in enumerate(check_list(settings.get("job_clusters"), "job_clusters")):
        where = f"job_clusters[{index}]"
        cluster = _entry(cluster, where)
        check_str(cluster.get("job_cluster_key"), f"{where}.job_cluster_key")
        _check_cluster_spec(cluster.get("new_cluster"), f"{where}.new_cluster")
    for index, env in enumerate(check_list(settings.get("environments"), "environments")):
        env = _entry(env, f"environments[{index}]")
        check_str(env.get("environment_key"), f"environments[{index}].environment_key")
        spec = check_dict(env.get("spec"), f"environments[{index}].spec")
        check_str_list(spec.get("dependencies"), f"environments[{index}].spec.dependencies")
    for index, param in enumerate(check_list(settings.get("parameters"), "parameters")):
        param = _entry(param, f"parameters[{index}]")
        if not check_str(param.get("name"), f"parameters[{index}].name"):
            raise invalid(f"parameters[{index}].name is required.")
        default = param.get("default")
        if default is not None and not isinstance(default, (str, int, float)):
            raise invalid(f"Invalid value for field 'parameters[{index}].default': a string.")
    for index, task in enumerate(check_list(settings.get("tasks"), "tasks")):
        _check_task_shape(_entry(task, f"tasks[{index}]"), f"tasks[{index}]")


def _entry(value: object, where: str) -> dict:
    """An array entry that must be an object (null included: `tasks: [null]` is refused)."""
    if not isinstance(value, dict):
        raise invalid(f"Invalid value for field '{where}': expected an object, got {value!r:.80}.")
    return value


def _check_cluster_spec(spec: object, where: str) -> None:
    if spec is None:
        return
    spec = check_dict(spec, where)
    check_str_map(spec.get("spark_env_vars"), f"{where}.spark_env_vars")
    check_str_map(spec.get("spark_conf"), f"{where}.spark_conf")
    check_dict(spec.get("custom_tags"), f"{where}.custom_tags")
    check_int(spec.get("num_workers"), f"{where}.num_workers")
    check_str(spec.get("spark_version"), f"{where}.spark_version")
    check_str(spec.get("node_type_id"), f"{where}.node_type_id")
    log_conf = check_dict(spec.get("cluster_log_conf"), f"{where}.cluster_log_conf")
    dbfs = check_dict(log_conf.get("dbfs"), f"{where}.cluster_log_conf.dbfs")
    check_str(dbfs.get("destination"), f"{where}.cluster_log_conf.dbfs.destination")


# The fields of each task kind this checks, each with its type check (in the order checked).
TASK_KIND_FIELDS = {
    "spark_python_task": {
        "python_file": check_str,
        "source": check_str,
        "parameters": check_str_list,
    },
    "notebook_task": {
        "notebook_path": check_str,
        "source": check_str,
        "base_parameters": check_str_map,
    },
    "python_wheel_task": {
        "package_name": check_str,
        "entry_point": check_str,
        "parameters": check_str_list,
        "named_parameters": check_str_map,
    },
}


def _check_task_shape(task: dict, where: str) -> None:
    check_str(task.get("task_key"), f"{where}.task_key")
    for name in ("existing_cluster_id", "job_cluster_key", "environment_key", "run_if"):
        check_str(task.get(name), f"{where}.{name}")
    check_int(task.get("timeout_seconds"), f"{where}.timeout_seconds")
    check_int(task.get("max_retries"), f"{where}.max_retries")
    check_int(task.get("min_retry_interval_millis"), f"{where}.min_retry_interval_millis")
    _check_cluster_spec(task.get("new_cluster"), f"{where}.new_cluster")
    for index, dep in enumerate(check_list(task.get("depends_on"), f"{where}.depends_on")):
        dep = _entry(dep, f"{where}.depends_on[{index}]")
        check_str(dep.get("task_key"), f"{where}.depends_on[{index}].task_key")
    for index, library in enumerate(check_list(task.get("libraries"), f"{where}.libraries")):
        at = f"{where}.libraries[{index}]"
        _check_library(_entry(library, at), at)
    for kind, fields in TASK_KIND_FIELDS.items():
        spec = task.get(kind)
        if spec is not None:
            spec = check_dict(spec, f"{where}.{kind}")
            for name, check in fields.items():
                check(spec.get(name), f"{where}.{kind}.{name}")


LIBRARY_KINDS = ("pypi", "whl", "requirements", "jar", "maven", "cran", "egg")


def _check_library(library: dict, where: str) -> None:
    """A task library names exactly one kind; pypi needs a package [assumption: the service's
    wording]."""
    kinds = [kind for kind in LIBRARY_KINDS if library.get(kind) is not None]
    if len(kinds) != 1:
        raise invalid(
            f"Invalid value for field '{where}': a library specifies exactly one of "
            f"{', '.join(LIBRARY_KINDS)}, got {kinds or 'none'}."
        )
    for kind in ("pypi", "maven", "cran"):
        nested = check_dict(library.get(kind), f"{where}.{kind}")
        for name in ("package", "repo", "coordinates"):
            check_str(nested.get(name), f"{where}.{kind}.{name}")
    if "pypi" in kinds and not library["pypi"].get("package"):
        raise invalid(f"Invalid value for field '{where}.pypi.package': a package is required.")
    for kind in ("whl", "requirements", "jar", "egg"):
        check_str(library.get(kind), f"{where}.{kind}")


def _validate_task(task: dict, keys: set[str], job_clusters: set, environments: set) -> None:
    key = task.get("task_key")
    if not isinstance(key, str) or not _TASK_KEY_RE.fullmatch(key):
        raise invalid(
            f"Invalid task_key {key!r}: a task key must match the pattern ^[\\w\\-\\_]+$ and be "
            "at most 100 characters long."
        )
    if key in keys:
        raise invalid(f"Task key {key} is used by more than one task.")
    keys.add(key)
    types = [t for t in (*SUPPORTED_TASK_TYPES, *OTHER_TASK_TYPES) if task.get(t)]
    if len(types) != 1:
        raise invalid(f"Task {key} must specify exactly one task type, got {types or 'none'}.")
    kind = types[0]
    if kind not in SUPPORTED_TASK_TYPES:
        raise invalid(
            f"Task {key}: {kind} is not supported by local-databricks; supported task types are "
            f"{', '.join(SUPPORTED_TASK_TYPES)}."
        )
    spec = task[kind]
    if spec.get("source") == "GIT":
        raise invalid(f"Task {key}: source GIT is not supported by local-databricks.")
    required = {
        "spark_python_task": ("python_file",),
        "notebook_task": ("notebook_path",),
        "python_wheel_task": ("package_name", "entry_point"),
    }[kind]
    for name in required:
        if not spec.get(name):
            raise invalid(f"Task {key}: {kind}.{name} is required.")
    for name in ("python_file", "notebook_path"):
        path = spec.get(name)
        if isinstance(path, str) and ".." in path.replace("\\", "/").split("/"):
            raise invalid(f"Task {key}: invalid {kind}.{name} {path!r}: '..' is not allowed.")
    compute = [c for c in ("new_cluster", "existing_cluster_id", "job_cluster_key") if task.get(c)]
    if len(compute) > 1:
        raise invalid(f"Task {key}: only one of {', '.join(compute)} may be set.")
    if compute and task.get("environment_key"):
        raise invalid(f"Task {key}: environment_key cannot be combined with {compute[0]}.")
    if task.get("job_cluster_key") and task["job_cluster_key"] not in job_clusters:
        raise invalid(
            f"Task {key} references job cluster {task['job_cluster_key']}, which is not defined "
            "in job_clusters."
        )
    if task.get("environment_key") and task["environment_key"] not in environments:
        raise invalid(
            f"Task {key} references environment {task['environment_key']}, which is not defined "
            "in environments."
        )
    if not compute and not task.get("environment_key") and kind != "notebook_task":
        raise invalid(
            f"Task {key}: {kind} needs compute: one of new_cluster, existing_cluster_id, "
            "job_cluster_key, or environment_key (serverless)."
        )
    if task.get("run_if", "ALL_SUCCESS") not in RUN_IF_VALUES:
        raise invalid(f"Task {key}: invalid run_if {task.get('run_if')!r}.")
    for dep in task.get("depends_on") or []:
        if not isinstance(dep, dict) or not dep.get("task_key"):
            raise invalid(f"Task {key}: each depends_on entry needs a task_key.")
        if dep["task_key"] == key:
            raise invalid(f"Task {key} cannot depend on itself.")
    timeout = task.get("timeout_seconds")
    if timeout is not None and (not isinstance(timeout, int) or timeout < 0):
        raise invalid(f"Task {key}: timeout_seconds must be a non-negative integer.")


def _check_acyclic(graph: dict[str, list[str]]) -> None:
    """400 naming a cycle of the task dependency graph; iterative (a 1,000-task chain is fine)."""
    done: set[str] = set()
    for root in graph:
        if root in done:
            continue
        trail: list[str] = [root]  # the path being walked; on_trail mirrors it
        on_trail = {root}
        pending = [iter(graph.get(root, []))]
        while pending:
            dep = next(pending[-1], None)
            if dep is None:
                pending.pop()
                node = trail.pop()
                on_trail.discard(node)
                done.add(node)
                continue
            if dep in on_trail:
                cycle = " -> ".join([*trail[trail.index(dep) :], dep])
                raise invalid(f"The task dependency graph has a cycle: {cycle}.")
            if dep not in done:
                trail.append(dep)
                on_trail.add(dep)
                pending.append(iter(graph.get(dep, [])))


def task_spec(
    raw: dict, settings: dict, job_id: int, run_id: int, task_run_id: int, params: dict
) -> dict:
    """A task's spec for one run: dynamic value references resolved, job parameters as widgets."""
    refs = {
        "job.id": str(job_id),
        "job.run_id": str(run_id),
        "job.name": str(settings.get("name") or settings.get("run_name") or "Untitled"),
        "task.name": raw["task_key"],
        "task.run_id": str(task_run_id),
        **{f"job.parameters.{k}": str(v) for k, v in params.items()},
    }
    spec = _substitute(copy.deepcopy(raw), refs)
    if "notebook_task" in spec and params:
        notebook = spec["notebook_task"]
        notebook["base_parameters"] = {
            **(notebook.get("base_parameters") or {}),
            **{k: str(v) for k, v in params.items()},
        }
    return spec


def _substitute(value, refs: dict[str, str]):
    """Replace `{{job.run_id}}`-style dynamic value references in all strings of a task."""
    if isinstance(value, str):
        return _REF_RE.sub(lambda m: refs.get(m.group(1), m.group(0)), value)
    if isinstance(value, list):
        return [_substitute(v, refs) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, refs) for k, v in value.items()}
    return value


def apply_legacy_params(task: dict, legacy: dict) -> None:
    """Apply run-now's legacy python_params / python_named_params / notebook_params to a task."""
    if "python_params" in legacy:
        for kind in ("spark_python_task", "python_wheel_task"):
            if kind in task:
                task[kind]["parameters"] = [str(p) for p in legacy["python_params"]]
    if "python_named_params" in legacy and "python_wheel_task" in task:
        task["python_wheel_task"]["named_parameters"] = dict(legacy["python_named_params"])
    if "notebook_params" in legacy and "notebook_task" in task:
        notebook = task["notebook_task"]
        notebook["base_parameters"] = {
            **(notebook.get("base_parameters") or {}),
            **{k: str(v) for k, v in legacy["notebook_params"].items()},
        }
