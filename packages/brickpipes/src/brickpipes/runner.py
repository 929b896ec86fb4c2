"""One Pipes run: open the Pipes session, hand each task its bootstrap, start the run, watch it
(:mod:`.lifecycle`) and return what the remote code reported.

Only dagster's public Pipes API and this package's context injectors and message readers
(:mod:`.transport`) are used; submitting, waiting, cancelling and the failure text are this
package's, so they behave the same for every compute and for ``jobs/run-now`` (see
``upstream_fixes.py`` for why dagster-databricks' ``PipesDatabricksClient.run`` is not used).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import dagster as dg

from .errors import CredentialsRejectedMidRun, DatabricksRunFailed, describe_failed_run
from .lifecycle import RemoteRun, start, succeeded

if TYPE_CHECKING:
    from dagster._core.pipes.client import PipesClientCompletedInvocation
    from dagster._core.pipes.context import PipesSession
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.service.jobs import Run

Context = dg.AssetExecutionContext | dg.OpExecutionContext
# How often the wait looks at the (local) Pipes session between two runs/get calls.
WAKE_CHECK_SECONDS = 0.1
# Once the remote closed Pipes, its process is about to exit: poll this often, at most
# CLOSING_POLLS times (a real run may stay TERMINATING for a while).
CLOSING_POLL_SECONDS = 1.0
CLOSING_POLLS = 10


@dataclass
class PipesRun:
    """Everything one run needs; :meth:`execute` runs it."""

    client: WorkspaceClient
    context_injector: dg.PipesContextInjector
    message_reader: dg.PipesMessageReader
    auth: str  # quoted when the credentials are rejected mid-run
    poll_interval_seconds: float
    timeout_seconds: int | None = None  # quoted when Databricks ends the run TIMEDOUT

    def execute(
        self,
        context: Context,
        tasks: Sequence[dict[str, Any]],
        launch: Callable[[list[dict[str, Any]]], int],
        extras: Mapping[str, Any] | None = None,
    ) -> PipesClientCompletedInvocation:
        """Start ``tasks`` as one run with ``launch(tasks_with_bootstrap) -> run id``, wait for
        it, and return the session's results; raise :class:`DatabricksRunFailed` if it failed.
        """
        from dagster._core.pipes.client import PipesClientCompletedInvocation

        rejected: list[CredentialsRejectedMidRun] = []
        with (
            _raising_instead(rejected),
            dg.open_pipes_session(
                context=context,
                extras=extras,
                context_injector=self.context_injector,
                message_reader=self.message_reader,
            ) as session,
        ):
            bootstrapped = [
                with_bootstrap(task, session, i, len(tasks)) for i, task in enumerate(tasks)
            ]
            run_id = start(lambda: launch(bootstrapped), self.client.jobs.cancel_run)
            remote = RemoteRun(
                self.client, run_id, context.log, self.auth, self.poll_interval_seconds
            )
            try:
                with remote.cancelled_on_failure():
                    run = remote.wait(ClosingAwareSleep(self, session))
            except CredentialsRejectedMidRun as error:
                rejected.append(error)
                raise
        if not succeeded(run):
            # Raised after the session closed, so what the successful tasks reported was read.
            message = describe_failed_run(self.client, run_id, self.timeout_seconds)
            raise DatabricksRunFailed(message, session.get_results(implicit_materializations=False))
        return PipesClientCompletedInvocation(session, metadata=run_metadata(run))


@dataclass
class Submit:
    """Launch a run with ``runs/submit``; ``args`` are its other fields (name, timeout...)."""

    client: WorkspaceClient
    args: dict[str, Any]

    def __call__(self, tasks: list[dict[str, Any]]) -> int:
        """Submit ``tasks`` as one run; return its id."""
        from databricks.sdk.service.jobs import SubmitTask

        submitted = [SubmitTask.from_dict(task) for task in tasks]
        return self.client.jobs.submit(tasks=submitted, **self.args).bind()["run_id"]


@dataclass
class OneTimeJob:
    """Launch a run as a job created for it (its tasks share job clusters), deleted after.

    ``settings`` are the ``jobs/create`` fields besides the tasks.
    """

    client: WorkspaceClient
    settings: dict[str, Any]
    idempotency_token: str
    job_id: int | None = None

    def __call__(self, tasks: list[dict[str, Any]]) -> int:
        """Create the job (once) and start it; calling again returns the same run."""
        from databricks.sdk.service.jobs import JobSettings

        if self.job_id is None:
            job = JobSettings.from_dict({**self.settings, "tasks": tasks})
            self.job_id = self.client.jobs.create(
                name=job.name,
                job_clusters=job.job_clusters,
                tasks=job.tasks,
                timeout_seconds=job.timeout_seconds,
                tags=job.tags,
            ).job_id
            assert self.job_id is not None, "jobs/create returned no job_id"
        started = self.client.jobs.run_now(self.job_id, idempotency_token=self.idempotency_token)
        return started.bind()["run_id"]

    def delete(self) -> None:
        """Delete the job if it was created (its run stays in the run history)."""
        if self.job_id is not None:
            self.client.jobs.delete(self.job_id)


def with_bootstrap(
    task: dict[str, Any], session: PipesSession, writer: int, writers: int = 1
) -> dict[str, Any]:
    """``task`` with the Pipes bootstrap of message writer ``writer`` of ``writers`` (one per task).

    On every compute, a Python script gets it as command-line arguments and a notebook as
    widgets (base parameters), so remote code opens Pipes the same way wherever it runs.
    """
    arguments, widgets = _bootstrap(session, writer, writers)
    task = {**task}
    if "spark_python_task" in task:
        python = {**task["spark_python_task"]}
        pairs = (item for pair in arguments.items() for item in pair)
        python["parameters"] = [*python.get("parameters", []), *pairs]
        task["spark_python_task"] = python
    elif "notebook_task" in task:
        notebook = {**task["notebook_task"]}
        notebook["base_parameters"] = {**notebook.get("base_parameters", {}), **widgets}
        task["notebook_task"] = notebook
    else:
        raise ValueError(f"Task '{task.get('task_key')}' is neither a script nor a notebook.")
    return task


def _bootstrap(
    session: PipesSession, writer: int, writers: int
) -> tuple[Mapping[str, str], Mapping[str, str]]:
    """The bootstrap of ``writer`` as (command-line arguments, widgets)."""
    if writers == 1:
        return session.get_bootstrap_cli_arguments(), session.get_bootstrap_env_vars()
    # Several tasks of one run each write to their own destination: that takes the per-writer
    # bootstrap, a preview API of the pinned dagster (its changes arrive with the pin).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        arguments = session.get_per_writer_bootstrap_cli_arguments()[writer]
        widgets = session.get_per_writer_bootstrap_env_vars()[writer]
    return arguments, widgets


def run_metadata(run: Run) -> dict[str, Any]:
    """The run id and page, for the asset's materialization."""
    metadata: dict[str, Any] = {"Databricks Job Run ID": str(run.run_id)}
    if run.run_page_url:
        metadata["Databricks Job Run URL"] = dg.MetadataValue.url(run.run_page_url)
    return metadata


class ClosingAwareSleep:
    """Sleeps between two ``runs/get``: long while the run works, short once it is ending.

    The remote closes Pipes just before its process exits (the message reader thread marks
    the session), so its end is noticed within a second instead of a whole poll interval.
    """

    def __init__(self, run: PipesRun, session: PipesSession) -> None:
        self.run, self.session, self.closing_polls = run, session, 0

    def __call__(self) -> None:
        """Sleep until the next poll is due."""
        interval = self.run.poll_interval_seconds
        if self._remote_closed():
            if self.closing_polls < CLOSING_POLLS:
                self.closing_polls += 1
                interval = min(CLOSING_POLL_SECONDS, interval)
            time.sleep(interval)
            return
        deadline = time.monotonic() + interval
        while time.monotonic() < deadline and not self._remote_closed():
            time.sleep(WAKE_CHECK_SECONDS)

    def _remote_closed(self) -> bool:
        return bool(self.session.message_handler.received_closed_message)


@contextmanager
def _raising_instead(errors: list[CredentialsRejectedMidRun]) -> Iterator[None]:
    """Raise ``errors[0]``, once recorded, in place of what the block raised after it.

    With the credentials rejected, the Pipes session's cleanup (deleting its temporary files)
    is rejected too, and its bare 401 would hide the failure that explains it.
    """
    try:
        yield
    except Exception:
        if not errors:
            raise
        raise errors[0] from errors[0].__cause__
