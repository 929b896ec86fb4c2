"""Run state machine: one supervisor thread per run, one worker thread per task process.

Lifecycle of a task: BLOCKED (waiting for upstream tasks) -> PENDING (waiting for its cluster)
-> RUNNING (process alive) -> TERMINATING -> TERMINATED with a result_state, or INTERNAL_ERROR
when it could not start. Tasks skipped because of `run_if` end TERMINATED with result
UPSTREAM_FAILED / UPSTREAM_CANCELED / EXCLUDED and termination code SKIPPED.
"""

from __future__ import annotations

import copy
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .auth import AuthStore
from .clusters import ClusterStore
from .executor import (
    KILL_GRACE_SECONDS,
    TaskProcess,
    copy_if_changed,
    start_process,
    task_env,
)
from .faults import RunBehaviour
from .paths import Storage
from .runtime_env import task_runtime
from .secrets_api import SECRET_REF_RE, SecretStore
from .util import WORKSPACE_ID, now_ms, prune, random_token

TERMINAL = ("TERMINATED", "SKIPPED", "INTERNAL_ERROR")
FAILED_RESULTS = ("FAILED", "TIMEDOUT", "UPSTREAM_FAILED", "CANCELED", "UPSTREAM_CANCELED")
V2_STATES = {
    "BLOCKED": "BLOCKED",
    "WAITING_FOR_RETRY": "WAITING",
    "PENDING": "PENDING",
    "QUEUED": "QUEUED",
    "RUNNING": "RUNNING",
    "TERMINATING": "TERMINATING",
    "TERMINATED": "TERMINATED",
    "SKIPPED": "TERMINATED",
    "INTERNAL_ERROR": "TERMINATED",
}
# "shared": one local Spark per server, which tasks attach to; "per-task": a JVM per task process.
SPARK_MODES = ("shared", "per-task")
CRASH_AFTER_SECONDS = 0.5
DRIVER_CRASH_MESSAGE = (
    "The spark driver has stopped unexpectedly and is restarting. "
    "Your notebook will be automatically reattached."
)
WORKLOAD_FAILED = "Workload failed, see run output for details."
# Fields of a submitted task that runs/get echoes back (those RunTask knows).
RUN_TASK_FIELDS = (
    "task_key",
    "description",
    "depends_on",
    "run_if",
    "timeout_seconds",
    "existing_cluster_id",
    "new_cluster",
    "job_cluster_key",
    "environment_key",
    "libraries",
    "spark_python_task",
    "notebook_task",
    "python_wheel_task",
    "email_notifications",
    "notification_settings",
    "webhook_notifications",
    "disabled",
)


class TaskSetupError(Exception):
    """A task cannot start; `internal` selects INTERNAL_ERROR instead of FAILED."""

    def __init__(self, message: str, internal: bool = False, code: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.internal = internal
        self.code = code


@dataclass
class ClusterSlot:
    """The compute a group of tasks of one run shares (job cluster, new cluster, ...)."""

    kind: str  # "job", "new", "existing" or "serverless"
    cluster_id: str | None
    spec: dict
    ready_at: float
    env: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    started: bool = False


@dataclass
class TaskRun:
    """One task of a run, with its own run id."""

    run_id: int
    key: str
    spec: dict
    depends_on: list[str]
    run_if: str
    timeout_seconds: int
    life: str = "BLOCKED"
    result: str | None = None
    message: str = ""
    termination: tuple[str, str] | None = None
    user_cancelled_or_timedout: bool = False
    launched: bool = False
    start_time: int = 0
    running_since: int = 0
    process_end: int = 0
    end_time: int = 0
    scheduled_mono: float = 0.0
    slot: ClusterSlot | None = None
    process: TaskProcess | None = None
    output: dict = field(default_factory=dict)
    workdir: Path | None = None
    api_token: str | None = None
    # Retries and repairs: every attempt is its own TaskRun with its own run id.
    attempt_number: int = 0
    original_attempt_run_id: int = 0
    retry_at: float = 0.0
    superseded: bool = False  # a retry or a repair replaced this attempt
    cycle: int = 0  # 0 for the original run, N for the Nth repair

    def dir_name(self) -> str:
        """Directory of this attempt under the run's directory (task keys have no dots)."""
        if self.cycle == 0 and self.attempt_number == 0:
            return self.key
        return f"{self.key}.{self.cycle}.{self.attempt_number}"


@dataclass
class Run:
    """A submitted or run-now run and its tasks."""

    run_id: int
    job_id: int
    number_in_job: int
    run_name: str
    run_type: str
    creator: str
    tasks: list[TaskRun]
    timeout_seconds: int
    behaviour: RunBehaviour
    job_clusters: list[dict]
    environments: list[dict]
    job_parameters: list[dict] = field(default_factory=list)
    overriding_parameters: dict = field(default_factory=dict)
    trigger: str | None = None
    start_time: int = field(default_factory=now_ms)
    submitted_mono: float = field(default_factory=time.monotonic)
    life: str = "PENDING"
    result: str | None = None
    message: str = ""
    termination: tuple[str, str] | None = None
    user_cancelled_or_timedout: bool = False
    end_time: int = 0
    stop_reason: str | None = None
    stop_message: str = ""
    slots: dict[tuple, ClusterSlot] = field(default_factory=dict)
    thread: threading.Thread | None = None
    # Job concurrency: 0 means unlimited (one-time runs).
    max_concurrent_runs: int = 0
    queue_enabled: bool = False
    queued_mono: float = 0.0
    queue_duration: int = 0
    # Repair history: cycle 0 is the original run, then one entry per repair.
    cycles: list[dict] = field(default_factory=list)

    def task(self, key: str) -> TaskRun:
        """The current attempt of the task with `key`."""
        return next(t for t in self.tasks if t.key == key and not t.superseded)

    def current(self) -> list[TaskRun]:
        """The current attempt of every task."""
        return [t for t in self.tasks if not t.superseded]

    def visible(self) -> list[TaskRun]:
        """What runs/get lists: every attempt of each task's latest repair cycle."""
        latest: dict[str, int] = {}
        for task in self.tasks:
            latest[task.key] = max(latest.get(task.key, 0), task.cycle)
        return [t for t in self.tasks if t.cycle == latest[t.key]]

    def done(self) -> bool:
        """True when the run reached a terminal state."""
        return self.life in TERMINAL


@dataclass
class RunConfig:
    """Settings of the execution engine (mutable at run time through the admin API)."""

    python: str
    cluster_start_seconds: float = 0.0
    serverless_start_seconds: float | None = None
    kill_grace_seconds: float = KILL_GRACE_SECONDS
    require_volumes: bool = False
    spark_mode: str = "shared"


class RunManager:
    """Owns every run; all state changes happen under one condition variable."""

    def __init__(
        self,
        config: RunConfig,
        storage: Storage,
        clusters: ClusterStore,
        secrets: SecretStore,
        host: str,
        auth: AuthStore | None = None,
    ) -> None:
        self.config = config
        self.auth = auth
        self.storage = storage
        self.clusters = clusters
        self.secrets = secrets
        self.host = host
        self.cond = threading.Condition(threading.RLock())
        self.runs: dict[int, Run] = {}
        self._task_index: dict[int, tuple[Run, TaskRun]] = {}
        self._next_id = random.randrange(10**12, 10**13)

    # ---- ids and lookup ------------------------------------------------------------------------

    def new_id(self) -> int:
        """A fresh run id (task run ids come from the same sequence)."""
        with self.cond:
            self._next_id += random.randrange(1, 50)
            return self._next_id

    def find(self, run_id: int) -> tuple[Run, TaskRun | None] | None:
        """(run, None) for a parent run id, (run, task) for a task run id, else None."""
        with self.cond:
            run = self.runs.get(run_id)
            if run is not None:
                return run, None
            found = self._task_index.get(run_id)
            return (found[0], found[1]) if found else None

    def all_runs(self) -> list[Run]:
        """Runs, newest first."""
        with self.cond:
            return sorted(self.runs.values(), key=lambda r: (r.start_time, r.run_id), reverse=True)

    # ---- lifecycle -----------------------------------------------------------------------------

    def start(self, run: Run) -> None:
        """Register `run` and start it, queue it or skip it (the job's max_concurrent_runs)."""
        with self.cond:
            over_limit = bool(run.max_concurrent_runs) and (
                self._active_count(run.job_id) >= run.max_concurrent_runs
                or bool(self._queued(run.job_id))
            )
            self.runs[run.run_id] = run
            for task in run.tasks:
                self._task_index[task.run_id] = (run, task)
            run.cycles = [{"start_time": run.start_time}]
            if over_limit:
                if run.queue_enabled:
                    run.life = "QUEUED"
                    run.message = ""
                    run.queued_mono = time.monotonic()
                    for task in run.tasks:
                        task.life = "QUEUED"
                    return
                self._skip(run)
                return
            self._launch_supervisor(run)

    def _launch_supervisor(self, run: Run) -> None:
        run.thread = threading.Thread(
            target=self._supervise, args=(run,), name=f"ld-run-{run.run_id}", daemon=True
        )
        run.thread.start()

    def _active_count(self, job_id: int) -> int:
        return sum(
            1
            for r in self.runs.values()
            if r.job_id == job_id and not r.done() and r.life != "QUEUED"
        )

    def _queued(self, job_id: int) -> list[Run]:
        queued = [r for r in self.runs.values() if r.job_id == job_id and r.life == "QUEUED"]
        return sorted(queued, key=lambda r: (r.queued_mono, r.run_id))

    def _skip(self, run: Run) -> None:
        """The service's answer to a run over the job's concurrency with queueing disabled."""
        message = (
            f"Skipping this run because the limit of {run.max_concurrent_runs} maximum "
            "concurrent runs has been reached."
        )
        run.life, run.message = "SKIPPED", message
        run.termination = ("MAX_CONCURRENT_RUNS_EXCEEDED", "CLIENT_ERROR")
        run.end_time = now_ms()
        for task in run.tasks:
            task.life, task.message = "SKIPPED", message
            task.termination = run.termination
        run.cycles[-1].update(self._cycle_summary(run))
        self.cond.notify_all()

    def _dequeue(self, job_id: int) -> None:
        """Start queued runs of a job, oldest first, while it has free slots."""
        with self.cond:
            for run in self._queued(job_id):
                if self._active_count(job_id) >= run.max_concurrent_runs:
                    break
                run.life = "PENDING"
                run.queue_duration = int((time.monotonic() - run.queued_mono) * 1000)
                run.submitted_mono = time.monotonic()
                for task in run.tasks:
                    task.life = "BLOCKED"
                self._launch_supervisor(run)

    def cancel(self, run: Run, reason: str = "CANCELED", message: str = "") -> None:
        """Ask a run to stop; workers kill their process trees (TERMINATING, then TERMINATED)."""
        with self.cond:
            if run.done() or run.stop_reason is not None:
                return
            run.stop_reason = reason
            run.stop_message = message
            if run.life == "QUEUED":
                # nothing runs yet: the run ends at once, and frees no slot
                for task in run.tasks:
                    self._finish_stopped(run, task)
                self._finalize(run)
                return
            run.life = "TERMINATING"
            self.cond.notify_all()

    def repair(self, run: Run, keys: list[str], build_spec) -> int:
        """Rerun the tasks `keys` of a finished run as a new repair cycle; the repair id.

        `build_spec(task_key, task_run_id)` gives each rerun task its (current) spec.
        """
        from .errors import ApiError

        with self.cond:
            if not run.done():
                raise ApiError(
                    400,
                    "INVALID_STATE",
                    f"Run {run.run_id} is not in a terminal state and cannot be repaired.",
                )
            cycle = len(run.cycles)
            repair_id = self.new_id()
            for key in keys:
                old = run.task(key)
                task_run_id = self.new_id()
                spec = build_spec(key, task_run_id)
                new = TaskRun(
                    run_id=task_run_id,
                    key=key,
                    spec=spec,
                    depends_on=[d["task_key"] for d in spec.get("depends_on") or []],
                    run_if=spec.get("run_if") or "ALL_SUCCESS",
                    timeout_seconds=int(spec.get("timeout_seconds") or 0),
                    cycle=cycle,
                )
                old.superseded = True
                run.tasks.append(new)
                self._task_index[new.run_id] = (run, new)
            run.cycles.append({"id": repair_id, "start_time": now_ms()})
            run.life, run.result, run.message, run.termination = "PENDING", None, "", None
            run.stop_reason, run.stop_message = None, ""
            run.user_cancelled_or_timedout = False
            run.end_time = 0
            run.slots = {}
            run.submitted_mono = time.monotonic()
            self._launch_supervisor(run)
            return repair_id

    def delete(self, run: Run) -> None:
        """Forget a finished run and its task runs."""
        with self.cond:
            self.runs.pop(run.run_id, None)
            for task in run.tasks:
                self._task_index.pop(task.run_id, None)

    def shutdown(self, timeout: float = 10.0) -> None:
        """Cancel every active run and wait for its processes to be gone."""
        with self.cond:
            active = [r for r in self.runs.values() if not r.done()]
        for run in active:
            self.cancel(run, "CANCELED", "Run cancelled: local-databricks is shutting down.")
        deadline = time.monotonic() + timeout
        for run in active:
            if run.thread is not None:
                run.thread.join(max(0.0, deadline - time.monotonic()))

    def clear(self) -> None:
        """Shut down and forget all runs."""
        self.shutdown()
        with self.cond:
            self.runs.clear()
            self._task_index.clear()

    # ---- supervisor ----------------------------------------------------------------------------

    def _supervise(self, run: Run) -> None:
        try:
            self._schedule_loop(run)
        except Exception as exc:  # a bug must not leave a run hanging forever
            with self.cond:
                for task in run.tasks:
                    if task.life not in TERMINAL:
                        self._finish_internal_error(task, exc)
        finally:
            for task in run.tasks:
                if task.process is not None and task.process.poll() is None:
                    task.process.kill_tree(0)
            self._finalize(run)

    def _schedule_loop(self, run: Run) -> None:
        workers: list[threading.Thread] = []
        while True:
            with self.cond:
                now = time.monotonic()
                if (
                    run.stop_reason is None
                    and run.timeout_seconds
                    and now >= run.submitted_mono + run.timeout_seconds
                ):
                    run.stop_reason = "TIMEDOUT"
                    run.stop_message = f"Run timed out after {run.timeout_seconds} seconds."
                    run.life = "TERMINATING"
                # Failed attempts with retries left get their next attempt before any dependent
                # task looks at them.
                if run.stop_reason is None:
                    for task in run.current():
                        if task.life in TERMINAL and _should_retry(task):
                            self._new_attempt(run, task)
                wait = 0.25
                for task in run.current():
                    if task.launched or task.life in TERMINAL:
                        continue
                    if run.stop_reason is not None:
                        self._finish_stopped(run, task)
                        continue
                    if task.life == "WAITING_FOR_RETRY":
                        if now < task.retry_at:
                            wait = min(wait, task.retry_at - now)
                            continue
                        workers.append(self._launch(run, task))
                        continue
                    deps = [run.task(k) for k in task.depends_on]
                    if any(d.life not in TERMINAL for d in deps):
                        continue
                    decision = _run_if_decision(task.run_if, [d.result for d in deps])
                    if decision is None:
                        workers.append(self._launch(run, task))
                    else:
                        message = {
                            "UPSTREAM_FAILED": "Upstream task(s) failed.",
                            "UPSTREAM_CANCELED": "Upstream task(s) were canceled.",
                            "EXCLUDED": f"Task was excluded: run_if {task.run_if} was not met.",
                        }[decision]
                        task.start_time = task.start_time or now_ms()
                        self._finish(task, "TERMINATED", decision, message, ("SKIPPED", "SUCCESS"))
                current = run.current()
                if all(t.life in TERMINAL for t in current) and (
                    run.stop_reason is not None or not any(_should_retry(t) for t in current)
                ):
                    break
                if run.stop_reason is None:
                    self._update_parent_state(run)
                if run.timeout_seconds and run.stop_reason is None:
                    left = run.submitted_mono + run.timeout_seconds - time.monotonic()
                    wait = min(wait, left)
                self.cond.wait(max(0.01, wait))
        for worker in workers:
            worker.join(5)

    def _launch(self, run: Run, task: TaskRun) -> threading.Thread:
        task.launched = True
        task.life = "PENDING"
        task.message = "Waiting for cluster"
        task.start_time = now_ms()
        task.scheduled_mono = time.monotonic()
        worker = threading.Thread(
            target=self._task_main, args=(run, task), name=f"ld-task-{task.run_id}", daemon=True
        )
        worker.start()
        return worker

    def _new_attempt(self, run: Run, failed: TaskRun) -> TaskRun:
        """The next attempt of a failed task: WAITING_FOR_RETRY until min_retry_interval_millis
        after the failed attempt started (the service's definition of the interval)."""
        interval = (failed.spec.get("min_retry_interval_millis") or 0) / 1000
        attempt = TaskRun(
            run_id=self.new_id(),
            key=failed.key,
            spec=failed.spec,
            depends_on=failed.depends_on,
            run_if=failed.run_if,
            timeout_seconds=failed.timeout_seconds,
            life="WAITING_FOR_RETRY",
            message="Waiting for retry",
            attempt_number=failed.attempt_number + 1,
            original_attempt_run_id=failed.original_attempt_run_id or failed.run_id,
            retry_at=max(time.monotonic(), failed.scheduled_mono + interval),
            cycle=failed.cycle,
        )
        attempt.start_time = now_ms()
        failed.superseded = True
        run.tasks.append(attempt)
        self._task_index[attempt.run_id] = (run, attempt)
        self.cond.notify_all()
        return attempt

    def _update_parent_state(self, run: Run) -> None:
        current = run.current()
        if any(t.life in ("RUNNING", "TERMINATING", "WAITING_FOR_RETRY") for t in current):
            run.life, run.message = "RUNNING", "In run"
        elif any(t.life == "PENDING" for t in current):
            running_before = run.life == "RUNNING"
            run.life = "RUNNING" if running_before else "PENDING"
            run.message = "In run" if running_before else "Waiting for cluster"

    def _finish_stopped(self, run: Run, task: TaskRun) -> None:
        result = "TIMEDOUT" if run.stop_reason == "TIMEDOUT" else "CANCELED"
        task.start_time = task.start_time or now_ms()
        task.user_cancelled_or_timedout = True
        code = _stop_code(result)
        self._finish(task, "TERMINATED", result, run.stop_message or "Run cancelled.", code)

    def _finish_internal_error(self, task: TaskRun, exc: Exception) -> None:
        """End a task whose run broke inside local-databricks itself, never leaving it hanging."""
        self._finish(
            task,
            "INTERNAL_ERROR",
            "FAILED",
            f"local-databricks internal error: {exc!r}",
            ("INTERNAL_ERROR", "INTERNAL_ERROR"),
        )

    def _finish(
        self,
        task: TaskRun,
        life: str,
        result: str | None,
        message: str,
        termination: tuple[str, str],
    ) -> None:
        with self.cond:
            task.life = life
            task.result = result
            task.message = message
            task.termination = termination
            task.end_time = now_ms()
            self.cond.notify_all()

    def _finalize(self, run: Run) -> None:
        with self.cond:
            if run.life not in TERMINAL:
                run.life = "TERMINATING"
            for slot in run.slots.values():
                if slot.cluster_id and slot.kind in ("job", "new"):
                    self.clusters.set_state(slot.cluster_id, "TERMINATED", "Job finished")
            self._set_run_result(run)
            run.end_time = now_ms()
            run.cycles[-1].update(self._cycle_summary(run))
            self.cond.notify_all()
        if run.max_concurrent_runs:
            self._dequeue(run.job_id)

    def _cycle_summary(self, run: Run) -> dict:
        """end_time, state and status of a finished run cycle (for repair_history)."""
        return {
            "end_time": run.end_time,
            "state": _state(run.life, run.result, run.message, run.user_cancelled_or_timedout),
            "status": _status(run.life, run.termination, run.message),
        }

    def _set_run_result(self, run: Run) -> None:
        current = run.current()
        dependents = {k for t in current for k in t.depends_on}
        leaves = [t for t in current if t.key not in dependents]
        failed = [t for t in current if t.result in FAILED_RESULTS or t.life == "INTERNAL_ERROR"]
        internal = [t for t in current if t.life == "INTERNAL_ERROR"]
        failed_leaves = [t for t in leaves if t in failed]
        run.life = "TERMINATED"
        if run.stop_reason == "CANCELED":
            run.result = "CANCELED"
            run.message = run.stop_message or "Run cancelled."
            run.termination = ("USER_CANCELED", "SUCCESS")
            run.user_cancelled_or_timedout = True
        elif run.stop_reason == "TIMEDOUT" or (
            failed_leaves and all(t.result == "TIMEDOUT" for t in failed_leaves)
        ):
            run.result = "TIMEDOUT"
            run.message = run.stop_message or next(
                t.message for t in failed_leaves if t.result == "TIMEDOUT"
            )
            run.termination = ("RUN_EXECUTION_ERROR", "CLIENT_ERROR")
            run.user_cancelled_or_timedout = True
        elif internal:
            run.life = "INTERNAL_ERROR"
            run.result = "FAILED"
            run.message = internal[0].message
            run.termination = internal[0].termination or ("INTERNAL_ERROR", "INTERNAL_ERROR")
        elif failed_leaves:
            skipped = ("UPSTREAM_FAILED", "UPSTREAM_CANCELED")
            first = next(t for t in failed if t.result not in skipped)
            run.result = "FAILED"
            run.message = f"Task {first.key} failed with message: {first.message}"
            if any(t.result == "UPSTREAM_FAILED" for t in current):
                run.message += " This caused all downstream tasks to get skipped."
            run.termination = first.termination or ("RUN_EXECUTION_ERROR", "CLIENT_ERROR")
        elif failed:
            run.result = "SUCCESS_WITH_FAILURES"
            run.message = ""
            run.termination = ("SUCCESS_WITH_FAILURES", "SUCCESS")
        else:
            run.result = "SUCCESS"
            run.message = ""
            run.termination = ("SUCCESS", "SUCCESS")

    # ---- task worker ---------------------------------------------------------------------------

    def _task_main(self, run: Run, task: TaskRun) -> None:
        try:
            self._execute(run, task)
        except TaskSetupError as exc:
            if exc.internal:
                code = (exc.code or "INTERNAL_ERROR", "INTERNAL_ERROR")
                self._finish(task, "INTERNAL_ERROR", "FAILED", exc.message, code)
            else:
                code = (exc.code or "RUN_EXECUTION_ERROR", "CLIENT_ERROR")
                task.output.setdefault("error", exc.message)
                self._finish(task, "TERMINATED", "FAILED", exc.message, code)
        except Exception as exc:
            self._finish_internal_error(task, exc)
        finally:
            if task.api_token and self.auth is not None:
                self.auth.remove_pat(task.api_token)

    def _stop_reason(self, run: Run, task: TaskRun) -> tuple[str, str] | None:
        if run.stop_reason is not None:
            return run.stop_reason, run.stop_message or "Run cancelled."
        if task.timeout_seconds and time.monotonic() >= task.scheduled_mono + task.timeout_seconds:
            return "TIMEDOUT", f"Task {task.key} timed out after {task.timeout_seconds} seconds."
        return None

    def _end_stopped(self, task: TaskRun, stop: tuple[str, str]) -> None:
        reason, message = stop
        task.user_cancelled_or_timedout = True
        code = _stop_code(reason)
        self._finish(task, "TERMINATED", reason, message, code)

    def _execute(self, run: Run, task: TaskRun) -> None:
        from .tasks import prepare_command  # local import keeps module dependencies one-way

        with self.cond:
            slot = self._slot_for(run, task)
            task.slot = slot
        while True:
            stop = self._stop_reason(run, task)
            if stop is not None:
                self._end_stopped(task, stop)
                return
            left = slot.ready_at - time.monotonic()
            if left <= 0:
                break
            time.sleep(min(0.05, left))
        with self.cond:
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
        command = prepare_command(self, run, task, workdir)
        runtime = task_runtime(self.config.python, workdir, slot.spec.get("spark_version"))
        command.argv[0] = runtime.python
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
        with self.cond:
            task.process = process
            task.life = "RUNNING"
            task.message = "In run"
            task.running_since = now_ms()
            self._update_parent_state(run)
            self.cond.notify_all()
        self._watch(run, task, process, behaviour)

    def _watch(self, run: Run, task: TaskRun, process: TaskProcess, behaviour) -> None:
        from .tasks import collect_output

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
            stop = self._stop_reason(run, task)
            if stop is not None:
                with self.cond:
                    task.life = "TERMINATING"
                process.kill_tree(self.config.kill_grace_seconds)
                break
            if crash_at is not None and time.monotonic() >= crash_at:
                process.kill_tree(0)
                crashed = True
                break
        with self.cond:
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
            self._finish(task, "TERMINATED", "FAILED", message, ("DRIVER_ERROR", "INTERNAL_ERROR"))
        elif exit_code == 0:
            self._finish(task, "TERMINATED", "SUCCESS", "", ("SUCCESS", "SUCCESS"))
        else:
            if not task.output.get("error"):
                task.output["error"] = f"Process exited with code {exit_code}."
            code = ("RUN_EXECUTION_ERROR", "CLIENT_ERROR")
            self._finish(task, "TERMINATED", "FAILED", WORKLOAD_FAILED, code)

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
            slot.env, slot.error = self._resolve_env(slot.spec.get("spark_env_vars") or {})
            if slot.error and slot.cluster_id:
                self.clusters.set_state(slot.cluster_id, "TERMINATED", slot.error)
        run.slots[key] = slot
        return slot

    def _resolve_env(self, env: dict) -> tuple[dict[str, str], str | None]:
        resolved: dict[str, str] = {}
        for name, value in env.items():
            text = str(value)
            for scope, key in SECRET_REF_RE.findall(text):
                secret = self.secrets.resolve(scope, key)
                if secret is None:
                    return {}, (
                        f"Failed to resolve secret reference in spark_env_vars.{name}: "
                        f"Secret does not exist with scope: {scope} and key: {key}"
                    )
            resolved[str(name)] = SECRET_REF_RE.sub(
                lambda m: self.secrets.resolve(m.group(1), m.group(2)) or "", text
            )
        return resolved, None

    # ---- rendering -----------------------------------------------------------------------------

    def page_url(self, run: Run, run_id: int) -> str:
        """The run page URL of the real UI, pointing at this server."""
        return f"{self.host}/?o={WORKSPACE_ID}#job/{run.job_id}/run/{run_id}"

    def render(self, run: Run, include_tasks: bool = True, include_history: bool = False) -> dict:
        """A run as runs/get returns it."""
        with self.cond:
            visible = run.visible()
            end = run.end_time if run.done() else 0
            body = {
                "job_id": run.job_id,
                "run_id": run.run_id,
                "number_in_job": run.number_in_job,
                "original_attempt_run_id": run.run_id,
                "creator_user_name": run.creator,
                "run_name": run.run_name,
                "run_type": run.run_type,
                "run_page_url": self.page_url(run, run.run_id),
                "start_time": run.start_time,
                "setup_duration": 0,
                "execution_duration": 0,
                "cleanup_duration": 0,
                "end_time": end,
                "run_duration": (end or now_ms()) - run.start_time,
                "attempt_number": 0,
                "state": _state(run.life, run.result, run.message, run.user_cancelled_or_timedout),
                "status": _status(run.life, run.termination, run.message, _queue_details(run)),
                "queue_duration": run.queue_duration,
                "job_clusters": copy.deepcopy(run.job_clusters),
                "job_parameters": copy.deepcopy(run.job_parameters),
                "overriding_parameters": copy.deepcopy(run.overriding_parameters),
                "trigger": run.trigger,
            }
            if include_tasks:
                body["tasks"] = [self.render_task(run, t) for t in visible]
                body["has_more"] = False
            if include_history:
                body["repair_history"] = self._repair_history(run)
            if len(run.current()) == 1:
                only = run.current()[0]
                if only.slot and only.slot.cluster_id:
                    body["cluster_instance"] = _cluster_instance(only)
            return prune(body)

    def _repair_history(self, run: Run) -> list[dict]:
        """ORIGINAL, then one REPAIR item per repair, each with the task runs it ran."""
        items = []
        for index, cycle in enumerate(run.cycles):
            live = index == len(run.cycles) - 1 and not run.done()
            item = {
                "type": "REPAIR" if index else "ORIGINAL",
                "id": cycle.get("id"),
                "start_time": cycle["start_time"],
                "end_time": 0 if live else cycle.get("end_time", 0),
                "task_run_ids": [t.run_id for t in run.tasks if t.cycle == index],
            }
            if live:
                item["state"] = _state(
                    run.life, run.result, run.message, run.user_cancelled_or_timedout
                )
                item["status"] = _status(run.life, run.termination, run.message)
            else:
                item["state"] = copy.deepcopy(cycle.get("state"))
                item["status"] = copy.deepcopy(cycle.get("status"))
            items.append(item)
        return items

    def render_task(self, run: Run, task: TaskRun) -> dict:
        """One entry of `tasks` in runs/get."""
        with self.cond:
            body = {k: copy.deepcopy(task.spec[k]) for k in RUN_TASK_FIELDS if k in task.spec}
            body.update(
                {
                    "run_id": task.run_id,
                    "run_if": task.run_if,
                    "attempt_number": task.attempt_number,
                    "start_time": task.start_time,
                    "end_time": task.end_time if task.life in TERMINAL else 0,
                    "run_page_url": self.page_url(run, task.run_id),
                    "state": _state(
                        task.life, task.result, task.message, task.user_cancelled_or_timedout
                    ),
                    "status": _status(task.life, task.termination, task.message),
                }
            )
            body.update(_durations(task))
            if task.slot is not None and task.slot.cluster_id and task.life != "BLOCKED":
                body["cluster_instance"] = _cluster_instance(task)
            return prune(body)

    def render_task_run(self, run: Run, task: TaskRun) -> dict:
        """runs/get for a task run id: a Run-shaped view of that one task."""
        body = self.render(run, include_tasks=False)
        task_json = self.render_task(run, task)
        body.update(
            {
                "run_id": task.run_id,
                "original_attempt_run_id": task.original_attempt_run_id or task.run_id,
                "attempt_number": task.attempt_number,
                "run_page_url": task_json["run_page_url"],
                "start_time": task.start_time,
                "end_time": task_json.get("end_time", 0),
                "state": task_json["state"],
                "status": task_json["status"],
                "tasks": [task_json],
                "has_more": False,
            }
        )
        body.update(_durations(task))
        if "cluster_instance" in task_json:
            body["cluster_instance"] = task_json["cluster_instance"]
        else:
            body.pop("cluster_instance", None)
        return prune(body)


def _stop_code(reason: str) -> tuple[str, str]:
    if reason == "CANCELED":
        return ("USER_CANCELED", "SUCCESS")
    return ("RUN_EXECUTION_ERROR", "CLIENT_ERROR")


def _durations(task: TaskRun) -> dict:
    end = task.end_time if task.life in TERMINAL else 0
    setup = (task.running_since or end or now_ms()) - task.start_time if task.start_time else 0
    execution = 0
    if task.running_since:
        execution = (task.process_end or end or now_ms()) - task.running_since
    cleanup = end - task.process_end if (end and task.process_end) else 0
    return {
        "setup_duration": max(0, setup),
        "execution_duration": max(0, execution),
        "cleanup_duration": max(0, cleanup),
        "run_duration": max(0, (end or now_ms()) - task.start_time) if task.start_time else 0,
    }


def _cluster_instance(task: TaskRun) -> dict:
    assert task.slot is not None
    return {
        "cluster_id": task.slot.cluster_id,
        "spark_context_id": str(task.slot.spec.get("spark_context_id", "")),
    }


def _state(life: str, result: str | None, message: str, cancelled: bool) -> dict:
    state = {
        "life_cycle_state": life,
        "state_message": message,
        "user_cancelled_or_timedout": cancelled,
    }
    if result is not None and life in TERMINAL:
        state["result_state"] = result
    return state


def _queue_details(run: Run) -> dict | None:
    if run.life != "QUEUED":
        return None
    return {
        "code": "MAX_CONCURRENT_RUNS_REACHED",
        "message": (
            f"Queued due to reaching the maximum concurrent runs ({run.max_concurrent_runs}) "
            "of the job."
        ),
    }


def _status(
    life: str, termination: tuple[str, str] | None, message: str, queue: dict | None = None
) -> dict:
    status: dict = {"state": V2_STATES.get(life, life)}
    if queue:
        status["queue_details"] = queue
    if life in TERMINAL and termination is not None:
        status["termination_details"] = {
            "code": termination[0],
            "type": termination[1],
            "message": message,
        }
    return status


def _should_retry(task: TaskRun) -> bool:
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


def _run_if_decision(run_if: str, results: list[str | None]) -> str | None:
    """None when the task should run, else the result_state it ends with."""
    if not results:
        return None
    failed = sum(1 for r in results if r in ("FAILED", "TIMEDOUT", "UPSTREAM_FAILED"))
    canceled = sum(1 for r in results if r in ("CANCELED", "UPSTREAM_CANCELED"))
    succeeded = sum(1 for r in results if r in ("SUCCESS", "SUCCESS_WITH_FAILURES"))
    excluded = len(results) - failed - canceled - succeeded
    upstream = "UPSTREAM_FAILED" if failed else "UPSTREAM_CANCELED"
    if run_if == "ALL_DONE":
        return None
    if run_if == "ALL_SUCCESS":
        if failed or canceled:
            return upstream
        return "EXCLUDED" if excluded else None
    if run_if == "AT_LEAST_ONE_SUCCESS":
        if succeeded:
            return None
        return upstream if (failed or canceled) else "EXCLUDED"
    if run_if == "NONE_FAILED":
        if failed or canceled:
            return upstream
        return None if succeeded else "EXCLUDED"
    if run_if == "AT_LEAST_ONE_FAILED":
        return None if failed else "EXCLUDED"
    if run_if == "ALL_FAILED":
        return None if failed == len(results) else "EXCLUDED"
    return None


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
