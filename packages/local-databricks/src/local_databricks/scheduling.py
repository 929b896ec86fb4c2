"""The run state machine: `RunManager` owns every run, starts, queues, cancels and repairs them,
and decides, task by task, what runs next (one supervisor thread per run). Task processes are
`execution.TaskRunner`'s; the runs/get format is `run_format`'s.
"""

from __future__ import annotations

import random
import threading
import time

from . import run_format
from .auth import AuthStore
from .clusters import ClusterService
from .errors import ApiError
from .execution import TaskRunner, should_retry
from .executor import TaskProcess
from .paths import Storage
from .run_format import state_json, status_json
from .runs import FAILED_RESULTS, TERMINAL, Run, RunConfig, TaskRun, stop_termination
from .secrets_api import SecretService
from .util import now_ms


class RunManager:
    """Owns every run; all state changes happen under one condition variable."""

    def __init__(
        self,
        config: RunConfig,
        storage: Storage,
        clusters: ClusterService,
        secrets: SecretService,
        host: str,
        auth: AuthStore | None = None,
    ) -> None:
        self.clusters = clusters
        self.secrets = secrets  # runs/get-output redacts their values
        self.host = host
        self.cond = threading.Condition(threading.RLock())
        self.runner = TaskRunner(self, config, storage, clusters, secrets, host, auth)
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
                        self.finish_internal_error(task, exc)
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
                        if task.life in TERMINAL and should_retry(task):
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
                        self.finish(task, "TERMINATED", decision, message, ("SKIPPED", "SUCCESS"))
                current = run.current()
                if all(t.life in TERMINAL for t in current) and (
                    run.stop_reason is not None or not any(should_retry(t) for t in current)
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
            target=self.runner.run_task,
            args=(run, task),
            name=f"ld-task-{task.run_id}",
            daemon=True,
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
        code = stop_termination(result)
        self.finish(task, "TERMINATED", result, run.stop_message or "Run cancelled.", code)

    def task_running(self, run: Run, task: TaskRun, process: TaskProcess) -> None:
        """A task's process started: RUNNING, and so is its run."""
        with self.cond:
            task.process = process
            task.life = "RUNNING"
            task.message = "In run"
            task.running_since = now_ms()
            self._update_parent_state(run)
            self.cond.notify_all()

    def finish_internal_error(self, task: TaskRun, exc: Exception) -> None:
        """End a task whose run broke inside local-databricks itself, never leaving it hanging."""
        self.finish(
            task,
            "INTERNAL_ERROR",
            "FAILED",
            f"local-databricks internal error: {exc!r}",
            ("INTERNAL_ERROR", "INTERNAL_ERROR"),
        )

    def finish(
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
            "state": state_json(run.life, run.result, run.message, run.user_cancelled_or_timedout),
            "status": status_json(run.life, run.termination, run.message),
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

    # ---- the runs/get wire format, under the run lock -----------------------------------------

    def page_url(self, run: Run, run_id: int) -> str:
        """The run page URL of the real UI, pointing at this server."""
        return run_format.page_url(self.host, run, run_id)

    def render(self, run: Run, include_tasks: bool = True, include_history: bool = False) -> dict:
        """A run as runs/get returns it."""
        with self.cond:
            return run_format.render_run(self.host, run, include_tasks, include_history)

    def render_task(self, run: Run, task: TaskRun) -> dict:
        """One entry of `tasks` in runs/get."""
        with self.cond:
            return run_format.render_task(self.host, run, task)

    def render_task_run(self, run: Run, task: TaskRun) -> dict:
        """runs/get for a task run id: a Run-shaped view of that one task."""
        with self.cond:
            return run_format.render_task_run(self.host, run, task)


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
