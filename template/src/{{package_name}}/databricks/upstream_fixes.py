"""Maintained by the template; changes arrive with `copier update`.

Workarounds for dagster-databricks 0.29.x gaps; delete each one when upstream fixes it.

Imported only when a run starts: ``dagster_databricks`` pulls in pyspark (about 3 s).

1. Single-task ``run()`` swallows ``DagsterExecutionInterruptedError``: after a Dagster
   termination the remote run is cancelled but the step ends SUCCESS (no upstream report;
   related: https://github.com/dagster-io/dagster/issues/18570). Fix: re-raise.
2. A polling error that the SDK does not retry (e.g. a 500 on ``runs/get``) fails the step and
   leaves the remote run burning money. Fix: cancel the remote run before re-raising.
3. A failed run is reported only as "Error running Databricks job: <state message>". Fix: name
   the run id, run URL, task key, state and the tail of the remote error output.
4. ``SubmitTask`` has no ``tags`` field, so Dagster's run tags never reach Databricks; the
   runner puts them in ``new_cluster.custom_tags`` and ``run_name`` instead (see pipes.py).
5. Upstream polls ``runs/get`` at a fixed interval, so a run is noticed as finished up to a
   whole interval late. Fix (an improvement, not a bug): poll rarely while the run works, and
   often once every remote writer has closed its Pipes session, i.e. the run is ending; the
   final ``runs/get`` also gives the run's metadata (upstream fetches the run once more).
6. A task on a shared job cluster (``job_cluster_key``) raises ``KeyError: 'new_cluster'``
   (https://github.com/dagster-io/dagster/issues/22021, fixed only for existing clusters).
   Fix: pass its Pipes bootstrap as parameters, as upstream does on an existing cluster.
7. Dagster's threaded message reader sleeps whole seconds between reads (an interval of 3 reads
   every 4 to 5 s), reads one chunk per sleep, and its threads sleep 1 s before they notice
   the session closed, which delays every step's end (dagster/_core/pipes/utils.py,
   ``PipesThreadedMessageReader._messages_thread``). Fix: a reader loop that waits on the
   session's close event, reads at the exact interval and drains waiting chunks at once.
8. Credentials rejected while the run is polled (expired, rotated or revoked mid-run) fail the
   step with the SDK's bare 401 and leave the run working unseen; these credentials cannot
   cancel it either. Fix: fail naming the run and its page, for someone who can cancel it.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from threading import Event, Thread
from typing import Any

import dagster._core.pipes.utils as pipes_utils
from dagster import DagsterExecutionInterruptedError, UrlMetadataValue
from dagster._core.errors import DagsterPipesExecutionError
from dagster._core.pipes.client import PipesClientCompletedInvocation
from dagster._core.pipes.utils import PipesThreadedMessageReader, open_pipes_session
from dagster_databricks.pipes import (
    BasePipesDatabricksClient,
    PipesDatabricksClient,
    PipesDatabricksServerlessClient,
    PipesDbfsMessageReader,
    PipesUnityCatalogVolumesMessageReader,
)
from dagster_pipes import PIPES_PROTOCOL_VERSION_FIELD
from databricks.sdk import WorkspaceClient
from databricks.sdk.service import jobs

from .pipes import CredentialsRejectedMidRun, DatabricksRunFailed, get_run_watched

# How much of the remote error output goes into the step failure.
ERROR_TAIL_CHARS = 2000
# How often the wait loop looks at the (local) Pipes session between two runs/get calls.
WAKE_CHECK_SECONDS = 0.1
# How many polls at ``closing_poll_interval_seconds`` once the remote closed Pipes.
CLOSING_POLLS = 10
TERMINAL_STATES = (jobs.RunLifeCycleState.TERMINATED, jobs.RunLifeCycleState.SKIPPED)


def describe_failed_run(
    client: WorkspaceClient, run_id: int, timeout_seconds: int | None = None
) -> str:
    """Describe a failed run: run id and URL, then per failed task its key, state and error tail."""
    run = client.jobs.get_run(run_id)
    state = run.state or jobs.RunState()
    lines = [
        f"Databricks run {run_id} ended {_state_name(state)}: {state.state_message or '-'}",
        f"Run page: {run.run_page_url or '-'}",
    ]
    if state.result_state == jobs.RunResultState.TIMEDOUT:
        lines.append(
            f"The run exceeded its timeout_seconds ({timeout_seconds or '?'} s, cluster start "
            "included) and Databricks cancelled it; raise it in clusters.yml if that is expected."
        )
    for task in run.tasks or []:
        task_state = task.state or jobs.RunState()
        if task_state.result_state == jobs.RunResultState.SUCCESS:
            continue
        lines.append(
            f"Task '{task.task_key}' (task run {task.run_id}) ended {_state_name(task_state)}: "
            f"{task_state.state_message or '-'}"
        )
        error = _task_error(client, task.run_id)
        if error:
            lines.append(f"Remote error output (tail):\n{error}")
    return "\n".join(lines)


def _state_name(state: jobs.RunState) -> str:
    life = state.life_cycle_state.value if state.life_cycle_state else "UNKNOWN"
    result = state.result_state.value if state.result_state else None
    return f"{life}/{result}" if result else life


def _task_error(client: WorkspaceClient, task_run_id: int | None) -> str:
    if task_run_id is None:
        return ""
    try:
        output = client.jobs.get_run_output(task_run_id)
    except Exception:  # the description must never hide the original failure
        return ""
    text = output.error_trace or output.error or ""
    return text[-ERROR_TAIL_CHARS:].strip()


class _FixedRun(BasePipesDatabricksClient):
    """Submit tasks, wait for the run, and report it, with fixes 1, 2, 3 and 5."""

    # The submitted run's timeout, quoted when Databricks ends the run TIMEDOUT.
    run_timeout_seconds: int | None = None
    # Polling interval once the remote side closed Pipes (the run is about to end).
    closing_poll_interval_seconds: float = 1.0
    # The auth method and its variables (no secret), quoted when the credentials are rejected.
    auth_description: str = ""

    def run(  # type: ignore[override]
        self,
        *,
        context: Any,
        task: jobs.SubmitTask,
        extras: Mapping[str, Any] | None = None,
        submit_args: Mapping[str, Any] | None = None,
    ) -> PipesClientCompletedInvocation:
        """Run one task; see :meth:`run_tasks`."""
        return self.run_tasks(context=context, tasks=[task], extras=extras, submit_args=submit_args)

    def run_tasks(
        self,
        *,
        context: Any,
        tasks: Sequence[jobs.SubmitTask | dict[str, Any]],
        extras: Mapping[str, Any] | None = None,
        submit_args: Mapping[str, Any] | None = None,
        launch: Callable[[list[dict[str, Any]]], int] | None = None,
    ) -> PipesClientCompletedInvocation:
        """Start ``tasks`` as one run and wait for it; a termination cancels it and re-raises.

        By default the run is a ``runs/submit``; ``launch`` starts it another way (e.g. a
        one-time job whose tasks share a job cluster) from the enriched task dicts and returns
        the run id. The injector and reader are the constructor's (one reader per task).
        """
        assert self.context_injector is not None and self.message_reader is not None
        rejected: list[CredentialsRejectedMidRun] = []
        with (
            _raising_instead(rejected),
            open_pipes_session(
                context=context,
                extras=extras,
                context_injector=self.context_injector,
                message_reader=self.message_reader,
            ) as session,
        ):
            enriched = [
                self._enrich_submit_task_dict(
                    context=context,
                    session=session,
                    submit_task_dict=task if isinstance(task, dict) else task.as_dict(),
                    writer_index=index,
                )
                for index, task in enumerate(tasks)
            ]
            if launch is None:
                submitted = [jobs.SubmitTask.from_dict(task) for task in enriched]

                def submit() -> int:
                    started = self.client.jobs.submit(tasks=submitted, **(submit_args or {}))
                    return started.bind()["run_id"]

                try:
                    run_id = submit()
                except DagsterExecutionInterruptedError:
                    # Interrupted mid-submit: the run may exist already. Submitting again with
                    # the same idempotency token returns it instead of starting another.
                    if self.forward_termination and (submit_args or {}).get("idempotency_token"):
                        with suppress(Exception, DagsterExecutionInterruptedError):
                            self._cancel(context, submit())
                    raise
            else:
                run_id = launch(enriched)
            failure = None
            run = None
            try:
                run = self._wait_for_run(context, run_id, session)
            except DagsterExecutionInterruptedError:  # fix 1: cancel, then fail the step
                context.log.info(f"[pipes] interrupted: cancelling Databricks run {run_id}")
                if self.forward_termination and self._cancel(context, run_id):
                    with suppress(DagsterExecutionInterruptedError):
                        self._poll_til_terminating(run_id)
                raise
            except DagsterPipesExecutionError as error:
                failure = error
            except CredentialsRejectedMidRun as error:  # fix 8: cancelling would be rejected too
                rejected.append(error)
                raise
            except Exception:  # fix 2: never leave the remote run unobserved
                self._cancel_after_error(context, run_id)
                raise
        if failure is not None:
            # Raised after the session closed, so what the successful tasks reported was read.
            reported = session.get_results(implicit_materializations=False)
            raise DatabricksRunFailed(str(failure), reported) from None
        assert run is not None
        metadata: dict[str, Any] = {"Databricks Job Run ID": str(run_id)}
        if run.run_page_url:
            metadata["Databricks Job Run URL"] = UrlMetadataValue(run.run_page_url)
        return PipesClientCompletedInvocation(session, metadata=metadata)

    def _enrich_submit_task_dict(
        self,
        context: Any,
        session: Any,
        submit_task_dict: dict[str, Any],
        writer_index: int = 0,
    ) -> dict[str, Any]:
        if "job_cluster_key" not in submit_task_dict:
            return super()._enrich_submit_task_dict(
                context, session, submit_task_dict, writer_index=writer_index
            )
        # Fix 6: upstream's existing-cluster branch passes the bootstrap as parameters, which
        # is right for a shared job cluster too (one cluster, one bootstrap per task).
        submit_task_dict["existing_cluster_id"] = submit_task_dict["job_cluster_key"]
        enriched = super()._enrich_submit_task_dict(
            context, session, submit_task_dict, writer_index=writer_index
        )
        del enriched["existing_cluster_id"]
        return enriched

    def _wait_for_run(self, context: Any, run_id: int, session: Any) -> jobs.Run:
        """Poll until the run ends and return it; raise with its details (fix 3) if it failed."""
        last_state = None
        closing_polls = 0
        run_page_url = None
        while True:
            # The first poll waits too: a run just submitted is PENDING, nothing to learn yet.
            closing_polls = self._sleep_until_next_poll(session, closing_polls)
            run = get_run_watched(self.client, run_id, self.auth_description, run_page_url)
            run_page_url = run.run_page_url
            state = run.state or jobs.RunState()
            if state.life_cycle_state != last_state:
                context.log.info(f"[pipes] Databricks run {run_id} is {state.life_cycle_state}")
                last_state = state.life_cycle_state
            if state.life_cycle_state in TERMINAL_STATES:
                if state.result_state == jobs.RunResultState.SUCCESS:
                    return run
                raise DagsterPipesExecutionError(
                    describe_failed_run(self.client, run_id, self.run_timeout_seconds)
                )
            if state.life_cycle_state == jobs.RunLifeCycleState.INTERNAL_ERROR:
                raise DagsterPipesExecutionError(
                    describe_failed_run(self.client, run_id, self.run_timeout_seconds)
                )

    def _sleep_until_next_poll(self, session: Any, closing_polls: int) -> int:
        """Sleep until the next ``runs/get``; return how many fast polls were made (fix 5).

        The remote closes Pipes just before its process exits, so from then on poll often, a
        bounded number of times (a real run may stay TERMINATING for a while). The check is
        local: the message reader thread updates the session.
        """
        if _remote_closed(session):
            if closing_polls < CLOSING_POLLS:
                time.sleep(min(self.closing_poll_interval_seconds, self.poll_interval_seconds))
                return closing_polls + 1
            time.sleep(self.poll_interval_seconds)
            return closing_polls
        deadline = time.monotonic() + self.poll_interval_seconds
        while time.monotonic() < deadline and not _remote_closed(session):
            time.sleep(WAKE_CHECK_SECONDS)
        return closing_polls

    def _cancel_after_error(self, context: Any, run_id: int) -> None:
        context.log.error(
            f"Polling Databricks run {run_id} failed; cancelling the run so it does not keep "
            "running unobserved."
        )
        self._cancel(context, run_id)

    def _cancel(self, context: Any, run_id: int, attempts: int = 3) -> bool:
        """Cancel the run, retrying: a second interrupt or a transient error may hit the call."""
        for attempt in range(1, attempts + 1):
            try:
                self.client.jobs.cancel_run(run_id)
                return True
            except (Exception, DagsterExecutionInterruptedError) as error:
                context.log.error(f"Cancelling run {run_id} failed (try {attempt}): {error!r}")
                if isinstance(error, TimeoutError):
                    break  # the SDK retried for its whole budget: the workspace is unreachable
                time.sleep(attempt)
        return False


class _PromptMessageReader(PipesThreadedMessageReader):
    """Fix 7, mixed into a Dagster reader class (kept as is when it has log readers)."""

    @contextmanager
    def read_messages(self, handler: Any) -> Iterator[Any]:
        """Read messages in a thread while the session is open; stop promptly when it closes."""
        if self.log_readers:  # log files to follow as well: keep upstream's loops
            with super().read_messages(handler) as params:
                yield params
            return
        with self.get_params() as params:
            session_closed = Event()
            thread = Thread(
                target=self._read_until_closed, args=(handler, params, session_closed), daemon=True
            )
            thread.start()
            try:
                yield params
            finally:
                session_closed.set()
                thread.join(timeout=pipes_utils.THREAD_WAIT_TIMEOUT)
                if thread.is_alive():
                    raise DagsterPipesExecutionError("Timed out waiting for the Pipes reader.")

    def _read_until_closed(self, handler: Any, params: Any, session_closed: Event) -> None:
        cursor, readable, gave_up_at = None, False, None
        try:
            # Wait before the first read too: the run is not even submitted yet.
            session_closed.wait(self.interval)
            while not handler.received_closed_message:
                if not readable:
                    params = {**params, **(self.launched_payload or {})}
                    readable = self.messages_are_readable(params)
                result = self.download_messages(cursor, params) if readable else None
                if result is not None:
                    cursor, chunk = result
                    _handle_chunk(handler, chunk)
                    if session_closed.is_set():
                        continue  # the run is over: read what is left without waiting
                elif session_closed.is_set():
                    # Ended without a "closed" message (cancelled, crashed): late chunks may
                    # still arrive, so keep reading for a while, as upstream does.
                    gave_up_at = gave_up_at or (
                        time.monotonic() + pipes_utils.WAIT_FOR_LOGS_AFTER_EXECUTION_INTERVAL
                    )
                    if time.monotonic() >= gave_up_at:
                        if not readable:
                            self._log_unstartable_warning(handler, params)
                        return
                    time.sleep(pipes_utils.DEFAULT_SLEEP_INTERVAL)
                    continue
                session_closed.wait(self.interval)
        except BaseException:
            handler.report_pipes_framework_exception(
                f"{type(self).__name__} messages thread", sys.exc_info()
            )
            raise


@contextmanager
def _raising_instead(errors: list[CredentialsRejectedMidRun]) -> Iterator[None]:
    """Raise ``errors[0]``, once recorded, in place of what the block raised after it.

    Fix 8: with the credentials rejected, the Pipes session's cleanup (deleting its temporary
    files) is rejected too, and its bare 401 would hide the failure that explains it.
    """
    try:
        yield
    except Exception:
        if not errors:
            raise
        raise errors[0] from errors[0].__cause__


def _remote_closed(session: Any) -> bool:
    return bool(session.message_handler.received_closed_message)


def _handle_chunk(handler: Any, chunk: str) -> None:
    for line in chunk.split("\n"):
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            continue
        if PIPES_PROTOCOL_VERSION_FIELD in message:
            handler.handle_message(message)


class FixedUnityCatalogVolumesMessageReader(
    _PromptMessageReader, PipesUnityCatalogVolumesMessageReader
):
    """``PipesUnityCatalogVolumesMessageReader`` with fix 7."""


class FixedDbfsMessageReader(_PromptMessageReader, PipesDbfsMessageReader):
    """``PipesDbfsMessageReader`` with fix 7."""


class FixedPipesDatabricksClient(_FixedRun, PipesDatabricksClient):
    """``PipesDatabricksClient`` with the fixes above (job clusters and existing clusters)."""


class FixedPipesDatabricksServerlessClient(_FixedRun, PipesDatabricksServerlessClient):
    """``PipesDatabricksServerlessClient`` with the fixes above."""
