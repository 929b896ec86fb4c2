"""Turning a task spec into a command line, and its process output into runs/get-output."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ApiError, TaskSetupError
from .executor import TaskProcess, last_error_line, read_tail
from .paths import Storage
from .runs import Run, RunConfig, TaskRun

NOTEBOOK_RESULT_LIMIT = 5 * 1024 * 1024


@dataclass
class Command:
    """argv of a task process plus extra environment variables."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)


def _resolve(storage: Storage, path: str) -> Path:
    try:
        return storage.task_file(path)
    except ApiError as exc:
        raise TaskSetupError(exc.message) from exc


def prepare_command(
    storage: Storage, config: RunConfig, run: Run, task: TaskRun, workdir: Path
) -> Command:
    """The command for a spark_python_task, notebook_task or python_wheel_task."""
    spec = task.spec
    python = config.python
    shim = storage.shim
    if "spark_python_task" in spec:
        python_task = spec["spark_python_task"]
        path = python_task["python_file"]
        local = _resolve(storage, path)
        if not local.is_file():
            raise TaskSetupError(
                f"Cannot read the python file {path}. Please check driver logs for more details."
            )
        params = [str(p) for p in python_task.get("parameters") or []]
        return Command([python, str(local), *params])
    if "notebook_task" in spec:
        notebook = spec["notebook_task"]
        path = notebook["notebook_path"]
        local = _resolve(storage, path)
        if not local.is_file() and local.with_name(local.name + ".py").is_file():
            local = local.with_name(local.name + ".py")
        if not local.is_file():
            raise TaskSetupError(
                f'Unable to access the notebook "{path}". Either it does not exist, or the '
                f"identity used to run this job, {run.creator}, lacks the required permissions."
            )
        exit_file = workdir / "notebook-exit-value"
        exit_file.unlink(missing_ok=True)
        params = {str(k): str(v) for k, v in (notebook.get("base_parameters") or {}).items()}
        env = {
            "LOCAL_DATABRICKS_NOTEBOOK_PARAMS": json.dumps(params),
            "LOCAL_DATABRICKS_NOTEBOOK_EXIT_FILE": str(exit_file),
        }
        return Command([python, str(shim / "notebook_runner.py"), str(local), path], env)
    wheel = spec["python_wheel_task"]
    params = [str(p) for p in wheel.get("parameters") or []]
    params += [f"--{k}={v}" for k, v in (wheel.get("named_parameters") or {}).items()]
    return Command(
        [
            python,
            str(shim / "wheel_runner.py"),
            wheel["package_name"],
            wheel["entry_point"],
            *params,
        ]
    )


def collect_output(task: TaskRun, process: TaskProcess) -> dict:
    """runs/get-output fields from the captured stdout/stderr (and notebook exit value)."""
    stdout, truncated = read_tail(process.stdout_path)
    stderr, _ = read_tail(process.stderr_path)
    output: dict = {}
    if "notebook_task" in task.spec:
        exit_file = (task.workdir or Path(".")) / "notebook-exit-value"
        if exit_file.is_file():
            value = exit_file.read_text(encoding="utf-8", errors="replace")
            output["notebook_output"] = {
                "result": value[:NOTEBOOK_RESULT_LIMIT],
                "truncated": len(value) > NOTEBOOK_RESULT_LIMIT,
            }
    else:
        output["logs"] = stdout
        output["logs_truncated"] = truncated
    if process.popen.returncode not in (0, None):
        output["error"] = last_error_line(stderr)
        output["error_trace"] = stderr
    return output
