"""Run an existing Databricks job (``jobs/run-now``) and map each task's outcome to assets.

Jobs API result states, per task:

* succeeded: ``SUCCESS``, ``SUCCESS_WITH_FAILURES``;
* skipped, because of another task: ``UPSTREAM_FAILED``, ``UPSTREAM_CANCELED``, ``EXCLUDED``
  (``run_if`` not met), ``DISABLED``;
* failed: anything else (``FAILED``, ``TIMEDOUT``, ``CANCELED``, a task that could not start).

The run's own result state is not enough: with ``run_if: ALL_DONE`` leaves, a run whose
critical task failed still ends ``SUCCESS_WITH_FAILURES``. So each asset names the tasks it
needs (:func:`materialize_job_assets`), and the step fails when a task fails that is not
explicitly allowed to.

The jobs are deployed by the project's Databricks Asset Bundle (``databricks bundle deploy``;
local-databricks deploys the same files locally); Dagster finds each by its name.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import dagster as dg
from pydantic import Field

from .environments import DatabricksEnvironment
from .errors import state_name, task_error
from .lifecycle import RemoteRun, start
from .naming import idempotency_token
from .workspace import DatabricksWorkspace

if TYPE_CHECKING:
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.service.jobs import Run

Outcome = Literal["succeeded", "skipped", "failed"]
SUCCEEDED_STATES = frozenset({"SUCCESS", "SUCCESS_WITH_FAILURES"})
SKIPPED_STATES = frozenset({"UPSTREAM_FAILED", "UPSTREAM_CANCELED", "EXCLUDED", "DISABLED"})


@dataclass(frozen=True)
class TaskResult:
    """How one task of a job run ended."""

    task_key: str
    state: str  # the result state, or the life cycle state when there is none
    message: str
    task_run_id: int | None
    seconds: float | None

    @property
    def outcome(self) -> Outcome:
        """succeeded, skipped (because of another task) or failed."""
        if self.state in SUCCEEDED_STATES:
            return "succeeded"
        return "skipped" if self.state in SKIPPED_STATES else "failed"


@dataclass(frozen=True)
class JobRun:
    """A finished job run: its state and one :class:`TaskResult` per task."""

    job_id: int
    run_id: int
    url: str
    state: str
    tasks: dict[str, TaskResult]

    def metadata(self, task_keys: Sequence[str] = ()) -> dict[str, Any]:
        """Run-level metadata, the state of ``task_keys``, and a table of every task."""
        lines = ["| task | state | seconds | message |", "| --- | --- | --- | --- |"]
        lines += [
            f"| {t.task_key} | {t.state} | {t.seconds if t.seconds is not None else '-'} "
            f"| {t.message.replace('|', '/') or '-'} |"
            for t in self.tasks.values()
        ]
        return {
            "Databricks Job Run URL": dg.MetadataValue.url(self.url),
            "job_id": self.job_id,
            "run_id": self.run_id,
            "run_state": self.state,
            **{f"task/{key}": self.tasks[key].state for key in task_keys},
            "tasks": dg.MetadataValue.md("\n".join(lines)),
        }


class DatabricksJobs(dg.ConfigurableResource):
    """Triggers existing Databricks jobs by name and waits for them (``jobs/run-now``)."""

    workspace: DatabricksWorkspace
    environment: DatabricksEnvironment | None = Field(
        default=None,
        description=(
            "When set, a job is looked up under its environment's name (the bundle target's "
            "prefix) and its catalog and schema parameters are the environment's."
        ),
    )
    poll_interval_seconds: float = Field(default=10.0, gt=0)

    def run_now(
        self,
        context: dg.AssetExecutionContext | dg.OpExecutionContext,
        job_name: str,
        *,
        job_parameters: Mapping[str, str] | None = None,
    ) -> JobRun:
        """Start the job named ``job_name``, wait until it ends, and return how each task ended.

        The run's life is the Pipes runner's (:mod:`.lifecycle`): a retried step reuses the run
        it started (idempotency token); a terminated Dagster run or a polling error cancels
        the Databricks run; rejected credentials name the run left running. The step log says
        when the SDK retries, and an unreachable workspace fails the step saying what to check.
        """
        with self.workspace.explaining_errors(context.log):
            client = self.workspace.get_client()
            target = "<target>"
            parameters = dict(job_parameters or {})
            if self.environment is not None:
                environment = self.environment.current(client=client)
                job_name, target = environment.job_name(job_name), environment.bundle_target
                environment.guard(parameters)
            job_id = find_job(client, job_name)
            if job_id is None:
                raise dg.Failure(
                    description=(
                        f"No Databricks job is named '{job_name}' at "
                        f"{self.workspace.describe_host()}: deploy the project's bundle "
                        f"(`databricks bundle deploy -t {target}`) or check the name."
                    )
                )
            if self.environment is not None:
                settings = client.jobs.get(job_id).settings
                declared = {p.name for p in (settings.parameters if settings else None) or []}
                where = {"catalog": environment.catalog, "schema": environment.schema}
                parameters = {
                    **{k: v for k, v in where.items() if k in declared},
                    **parameters,
                }
            token = idempotency_token(context)

            def launch() -> int:
                started = client.jobs.run_now(
                    job_id=job_id, job_parameters=parameters or None, idempotency_token=token
                )
                return started.bind()["run_id"]

            run_id = start(launch, client.jobs.cancel_run)
            context.log.info(f"Started run {run_id} of Databricks job '{job_name}' ({job_id}).")
            auth = self.workspace.describe_auth()
            remote = RemoteRun(client, run_id, context.log, auth, self.poll_interval_seconds)
            with remote.cancelled_on_failure():
                run = remote.wait()
            return job_run(client, job_id, run)


def find_job(client: WorkspaceClient, name: str) -> int | None:
    """The id of the job named ``name``; an error if several jobs share the name."""
    ids = [job.job_id for job in client.jobs.list(name=name) if job.job_id is not None]
    if len(ids) > 1:
        raise dg.Failure(description=f"Several Databricks jobs are named '{name}': {ids}.")
    return ids[0] if ids else None


def job_run(client: WorkspaceClient, job_id: int, run: Run) -> JobRun:
    """Summarise a finished run; failed tasks carry the last line of their error."""
    tasks = {}
    for task in run.tasks or []:
        name = state_name(task.state)
        message = (task.state.state_message if task.state else None) or ""
        if name not in SUCCEEDED_STATES | SKIPPED_STATES:
            error = task_error(client, task.run_id)
            message = error.splitlines()[-1] if error else message
        seconds = (
            round((task.end_time - task.start_time) / 1000, 1)
            if task.start_time and task.end_time
            else None
        )
        tasks[task.task_key or "?"] = TaskResult(
            task.task_key or "?", name, message, task.run_id, seconds
        )
    return JobRun(job_id, run.run_id or 0, run.run_page_url or "", state_name(run.state), tasks)


def materialize_job_assets(
    context: dg.AssetExecutionContext,
    run: JobRun,
    tasks_by_asset: Mapping[dg.AssetKey, Sequence[str]],
    allowed_failures: Collection[str] = (),
) -> Iterator[dg.MaterializeResult]:
    """Materialize each asset whose tasks all succeeded; fail on a task not allowed to fail.

    An asset with a failed or skipped task is not materialized. The step fails when any task
    failed (mapped to an asset or not) unless ``allowed_failures`` names it.
    """
    for key, task_keys in tasks_by_asset.items():
        missing = [t for t in task_keys if t not in run.tasks]
        if missing:
            raise dg.Failure(f"Run {run.run_id} has no task(s) {missing} for {key}.")
        not_done = [run.tasks[t] for t in task_keys if run.tasks[t].outcome != "succeeded"]
        if not_done:
            reasons = ", ".join(f"{t.task_key} {t.state}" for t in not_done)
            context.log.warning(f"{key.to_user_string()} not materialized: {reasons}")
            continue
        yield dg.MaterializeResult(asset_key=key, metadata=run.metadata(task_keys))
    failed = [t for t in run.tasks.values() if t.outcome == "failed"]
    for task in failed:
        if task.task_key in allowed_failures:
            context.log.warning(f"Task {task.task_key} {task.state} (allowed): {task.message}")
    failed = [t for t in failed if t.task_key not in allowed_failures]
    if failed:
        details = "; ".join(f"{t.task_key} {t.state}: {t.message or '-'}" for t in failed)
        raise dg.Failure(
            description=f"Databricks run {run.run_id} ({run.state}): {details}. {run.url}",
            metadata=run.metadata(),
        )
