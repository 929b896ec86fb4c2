"""Runs and task runs as data: the states they go through and what each one records.

Lifecycle of a task: BLOCKED (waiting for upstream tasks) -> PENDING (waiting for its cluster)
-> RUNNING (process alive) -> TERMINATING -> TERMINATED with a result_state, or INTERNAL_ERROR
when it could not start. Tasks skipped because of `run_if` end TERMINATED with result
UPSTREAM_FAILED / UPSTREAM_CANCELED / EXCLUDED and termination code SKIPPED.

The engine that moves them is split by concern: `scheduling` (the `RunManager` state machine),
`execution` (one attempt's compute, process and watching, and the retry policy) and
`run_format` (the runs/get wire format).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .executor import KILL_GRACE_SECONDS, TaskProcess
from .faults import RunBehaviour
from .util import now_ms

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
    serverless_enabled: bool = True  # serverless compute for jobs (workspace setting)
    kill_grace_seconds: float = KILL_GRACE_SECONDS
    require_volumes: bool = False
    spark_mode: str = "shared"


def stop_termination(reason: str) -> tuple[str, str]:
    """termination_details (code, type) of a task stopped by a cancel or a timeout."""
    if reason == "CANCELED":
        return ("USER_CANCELED", "SUCCESS")
    return ("RUN_EXECUTION_ERROR", "CLIENT_ERROR")
