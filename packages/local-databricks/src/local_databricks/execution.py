"""Execution of one task attempt: its compute slot (cluster, secrets in spark_env_vars), its
process and environment, watching it until it ends, and the retry policy.

`TaskRunner` holds no run state of its own: every state change goes through the `RunControl`
(the scheduler), under its lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .auth import AuthStore
from .clusters import ClusterService
from .errors import TaskSetupError
from .executor import TaskProcess, copy_if_changed, start_process, task_env
from .libraries import LibraryInstallFailed, declared, install
from .paths import Storage
from .runs import ClusterSlot, Run, RunConfig, TaskRun, stop_termination
from .runtime_env import task_runtime
from .secrets_api import SecretService
from .tasks import collect_output, prepare_command
from .util import now_ms, random_token

CRASH_AFTER_SECONDS = 0.5
DRIVER_CRASH_MESSAGE = (
    "The spark driver has stopped unexpectedly and is restarting. "
    "Your notebook will be automatically reattached."
)
WORKLOAD_FAILED = "Workload failed, see run output for details."


class RunControl(Protocol):
    """What a task worker may change in the run state machine (scheduling.RunManager), each
    under `cond`: end a task (life, result, message, termination), end it with an internal
    error, mark its process started."""

    cond: threading.Condition
    finish: Callable[[TaskRun, str, str | None, str, tuple[str, str]], None]
    finish_internal_error: Callable[[TaskRun, Exception], None]
    task_running: Callable[[Run, TaskRun, TaskProcess], None]


@dataclass
class TaskRunner:
    """Runs task attempts as local processes, reporting every change to `control`."""

    control: RunControl
    config: RunConfig
    storage: Storage
    clusters: ClusterService
    secrets: SecretService
    host: str
    auth: AuthStore | None = None

    def run_task(self, run: Run, task: TaskRun) -> None:
        """A task worker thread: prepare, start and watch one attempt, then record its end."""
        try:
            self._execute(run, task)
        except LibraryInstallFailed as exc:
            task.output = {"error": exc.error, "error_trace": exc.output or exc.error}
            code = ("LIBRARY_INSTALLATION_ERROR", "CLIENT_ERROR")
            self.control.finish(task, "INTERNAL_ERROR", "FAILED", exc.message, code)
        except TaskSetupError as exc:
            if exc.internal:
                code = (exc.code or "INTERNAL_ERROR", "INTERNAL_ERROR")
                self.control.finish(task, "INTERNAL_ERROR", "FAILED", exc.message, code)
            else:
                code = (exc.code or "RUN_EXECUTION_ERROR", "CLIENT_ERROR")
                task.output.setdefault("error", exc.message)
                self.control.finish(task, "TERMINATED", "FAILED", exc.message, code)
        except Exception as exc:
            self.control.finish_internal_error(task, exc)
        finally:
            if task.api_token and self.auth is not None:
                self.auth.remove_pat(task.api_token)

    def _end_stopped(self, task: TaskRun, stop: tuple[str, str]) -> None:
        reason, message = stop
        task.user_cancelled_or_timedout = True
        code = stop_termination(reason)
        self.control.finish(task, "TERMINATED", reason, message, code)

    def _execute(self, run: Run, task: TaskRun) -> None:
        with self.control.cond:
            slot = self._slot_for(run, task)
            task.slot = slot
        while True:
            stop = stop_reason(run, task)
            if stop is not None:
                self._end_stopped(task, stop)
                return
            left = slot.ready_at - time.monotonic()
            if left <= 0:
                break
            time.sleep(min(0.05, left))
        with self.control.cond:
            if slot.cluster_id and not slot.started and slot.error is None:
                if slot.kind == "existing":
                    # the cluster store moves it to RUNNING at ready_at; pick up the live details
                    slot.spec = self.clusters.get_details(slot.cluster_id) or slot.spec
                else:
                    self.clusters.set_state(slot.cluster_id, "RUNNING")
            slot.started = True
        if slot.error is not None:
            raise TaskSetupError(slot.error, internal=True, code="CLUSTER_ERROR")
        behaviour = run.behaviour
        if behaviour.result == "INTERNAL_ERROR":
            raise TaskSetupError(
                behaviour.message or "local-databricks: injected INTERNAL_ERROR.", internal=True
            )
        if behaviour.result == "FAILED":
            raise TaskSetupError(behaviour.message or WORKLOAD_FAILED)

        run_dir = (self.storage.runs / str(run.run_id)).resolve()
        workdir = (run_dir / task.dir_name()).resolve()
        if workdir.parent != run_dir:
            # task keys are validated on submit; this keeps a bad key from ever leaving run_dir
            raise TaskSetupError(f"Invalid task_key {task.key!r}.", internal=True)
        task.workdir = workdir
        command = prepare_command(self.storage, self.config, run, task, workdir)
        runtime = task_runtime(self.config.python, workdir, slot.spec.get("spark_version"))
        command.argv[0] = runtime.python
        libraries = declared(self.storage, task.spec, run.environments)
        install(libraries, self.config.python, runtime.python, lambda: bool(stop_reason(run, task)))
        stop = stop_reason(run, task)
        if stop is not None:
            self._end_stopped(task, stop)
            return
        if libraries.notes:
            (workdir / "logs").mkdir(parents=True, exist_ok=True)
            notes = "".join(f"{note}\n" for note in libraries.notes)
            (workdir / "logs" / "stdout").write_text(notes, encoding="utf-8")
        api_env = {
            **runtime.env,
            "LOCAL_DATABRICKS_API_URL": self.host,
            "LOCAL_DATABRICKS_SPARK_MODE": self.config.spark_mode,
        }
        if self.auth is not None:
            # Like a driver's context token: valid while the task runs (dbutils.secrets uses it).
            task.api_token = random_token()
            self.auth.add_pat(task.api_token)
            api_env["LOCAL_DATABRICKS_API_TOKEN"] = task.api_token
        env = task_env(
            self.storage,
            slot.env,
            _spark_conf(slot),
            self.storage.spark / f"{run.run_id}-{task.dir_name()}",
            {
                **command.env,
                **api_env,
                **(
                    {"LOCAL_DATABRICKS_REQUIRE_VOLUMES": "1"} if self.config.require_volumes else {}
                ),
            },
        )
        process = start_process(command.argv, env, workdir / "driver", workdir / "logs")
        self.control.task_running(run, task, process)
        self._watch(run, task, process, behaviour)

    def _watch(self, run: Run, task: TaskRun, process: TaskProcess, behaviour) -> None:
        log_target = _log_target(self.storage, task.slot)
        seen: dict[Path, int] = {}
        crash_at = time.monotonic() + CRASH_AFTER_SECONDS if behaviour.result == "CRASH" else None
        stop = None
        crashed = False
        exit_code = None
        while True:
            code = process.wait(0.1)
            if log_target is not None:
                copy_if_changed(process.stdout_path, log_target / "stdout", seen)
                copy_if_changed(process.stderr_path, log_target / "stderr", seen)
            if code is not None and behaviour.result != "HANG":
                exit_code = code
                break
            if code is not None:
                time.sleep(0.1)  # HANG: the process is gone but the task keeps running
            stop = stop_reason(run, task)
            if stop is not None:
                with self.control.cond:
                    task.life = "TERMINATING"
                process.kill_tree(self.config.kill_grace_seconds)
                break
            if crash_at is not None and time.monotonic() >= crash_at:
                process.kill_tree(0)
                crashed = True
                break
        with self.control.cond:
            task.life = "TERMINATING"
            task.process_end = now_ms()
        if log_target is not None:
            copy_if_changed(process.stdout_path, log_target / "stdout", seen)
            copy_if_changed(process.stderr_path, log_target / "stderr", seen)
        task.output = collect_output(task, process)
        if stop is not None:
            self._end_stopped(task, stop)
        elif crashed:
            message = behaviour.message or DRIVER_CRASH_MESSAGE
            task.output["error"] = message
            self.control.finish(
                task, "TERMINATED", "FAILED", message, ("DRIVER_ERROR", "INTERNAL_ERROR")
            )
        elif exit_code == 0:
            self.control.finish(task, "TERMINATED", "SUCCESS", "", ("SUCCESS", "SUCCESS"))
        else:
            if not task.output.get("error"):
                task.output["error"] = f"Process exited with code {exit_code}."
            code = ("RUN_EXECUTION_ERROR", "CLIENT_ERROR")
            self.control.finish(task, "TERMINATED", "FAILED", WORKLOAD_FAILED, code)

    def _slot_for(self, run: Run, task: TaskRun) -> ClusterSlot:
        spec = task.spec
        start = self.config.cluster_start_seconds
        if run.behaviour.pending_seconds is not None:
            start = run.behaviour.pending_seconds
        if spec.get("existing_cluster_id"):
            key: tuple = ("existing", spec["existing_cluster_id"])
        elif spec.get("job_cluster_key"):
            key = ("job", spec["job_cluster_key"])
        elif spec.get("new_cluster"):
            key = ("new", task.key)
        else:
            key = ("serverless", spec.get("environment_key") or "")
        if key in run.slots:
            return run.slots[key]
        now = time.monotonic()
        if key[0] == "existing":
            # A TERMINATED all-purpose cluster is started for the run, as the service does.
            ready_at, error = self.clusters.ensure_running(key[1], run.creator)
            details = self.clusters.get_details(key[1])
            if details is None or error is not None:
                slot = ClusterSlot("existing", None, {}, now)
                slot.error = error or f"Cluster {key[1]} does not exist"
            else:
                if run.behaviour.pending_seconds is not None:
                    ready_at = max(ready_at, now + run.behaviour.pending_seconds)
                slot = ClusterSlot("existing", key[1], details, ready_at)
        elif key[0] == "serverless":
            serverless = self.config.serverless_start_seconds
            if run.behaviour.pending_seconds is None and serverless is not None:
                start = serverless
            slot = ClusterSlot("serverless", None, {}, now + start)
        else:
            cluster_spec = (
                _job_cluster_spec(run, key[1]) if key[0] == "job" else spec["new_cluster"]
            )
            cluster_id = self.clusters.add_job_cluster(
                cluster_spec, run.run_name, run.run_id, run.creator
            )
            details = self.clusters.get_details(cluster_id) or {}
            slot = ClusterSlot(key[0], cluster_id, details, now + start)
            slot.error = self.clusters.launch_problem(cluster_spec)
        if slot.error is None:
            slot.env, slot.error = self.secrets.resolve_env(slot.spec.get("spark_env_vars") or {})
            if slot.error and slot.cluster_id:
                self.clusters.set_state(slot.cluster_id, "TERMINATED", slot.error)
        run.slots[key] = slot
        return slot


def stop_reason(run: Run, task: TaskRun) -> tuple[str, str] | None:
    """(result, message) when a task must stop: its run is cancelled or it timed out."""
    if run.stop_reason is not None:
        return run.stop_reason, run.stop_message or "Run cancelled."
    if task.timeout_seconds and time.monotonic() >= task.scheduled_mono + task.timeout_seconds:
        return "TIMEDOUT", f"Task {task.key} timed out after {task.timeout_seconds} seconds."
    return None


def should_retry(task: TaskRun) -> bool:
    """A finished attempt the service retries: FAILED (TIMEDOUT with retry_on_timeout) while
    max_retries allows (-1: forever)."""
    if task.life != "TERMINATED" or task.superseded:
        return False
    max_retries = task.spec.get("max_retries") or 0
    if max_retries == 0 or (max_retries > 0 and task.attempt_number >= max_retries):
        return False
    if task.result == "FAILED":
        return True
    return task.result == "TIMEDOUT" and bool(task.spec.get("retry_on_timeout"))


def _job_cluster_spec(run: Run, key: str) -> dict:
    for cluster in run.job_clusters:
        if cluster.get("job_cluster_key") == key:
            return cluster.get("new_cluster") or {}
    return {}


def _spark_conf(slot: ClusterSlot) -> dict[str, str]:
    """The clusterUsageTags conf the Pipes DBFS writer reads from the driver's SparkSession."""
    conf = {str(k): str(v) for k, v in (slot.spec.get("spark_conf") or {}).items() if v is not None}
    if slot.cluster_id:
        conf["spark.databricks.clusterUsageTags.clusterId"] = slot.cluster_id
        conf["spark.databricks.clusterUsageTags.clusterName"] = slot.spec.get("cluster_name", "")
    destination = ((slot.spec.get("cluster_log_conf") or {}).get("dbfs") or {}).get("destination")
    if destination:
        conf["spark.databricks.clusterUsageTags.clusterLogDeliveryEnabled"] = "true"
        conf["spark.databricks.clusterUsageTags.clusterLogDestination"] = destination
    return conf


def _log_target(storage: Storage, slot: ClusterSlot | None) -> Path | None:
    if slot is None or not slot.cluster_id:
        return None
    destination = ((slot.spec.get("cluster_log_conf") or {}).get("dbfs") or {}).get("destination")
    if not destination:
        return None
    _, local = storage.dbfs_local(destination)
    return local / slot.cluster_id / "driver"
