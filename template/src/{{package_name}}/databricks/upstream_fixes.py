"""Workarounds for dagster-databricks 0.29.x gaps; delete each one when upstream fixes it.

Imported only when a run starts: ``dagster_databricks`` pulls in pyspark (about 3 s).

1. Single-task ``run()`` swallows ``DagsterExecutionInterruptedError``: after a Dagster
   termination the remote run is cancelled but the step ends SUCCESS (no upstream report;
   related: https://github.com/dagster-io/dagster/issues/18570). Fix: send the task through
   the multi-task path, which re-raises.
2. A polling error that the SDK does not retry (e.g. a 500 on ``runs/get``) fails the step and
   leaves the remote run burning money. Fix: cancel the remote run before re-raising.
3. A failed run is reported only as "Error running Databricks job: <state message>". Fix: name
   the run id, run URL, task key, state and the tail of the remote error output.
4. ``SubmitTask`` has no ``tags`` field, so Dagster's run tags never reach Databricks; the
   runner puts them in ``new_cluster.custom_tags`` and ``run_name`` instead (see pipes.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dagster import DagsterExecutionInterruptedError
from dagster._core.errors import DagsterPipesExecutionError
from dagster_databricks.pipes import (
    BasePipesDatabricksClient,
    PipesDatabricksClient,
    PipesDatabricksServerlessClient,
)
from databricks.sdk import WorkspaceClient
from databricks.sdk.service import jobs

# How much of the remote error output goes into the step failure.
ERROR_TAIL_CHARS = 2000


def describe_failed_run(client: WorkspaceClient, run_id: int) -> str:
    """Describe a failed run: run id and URL, then per failed task its key, state and error tail."""
    run = client.jobs.get_run(run_id)
    state = run.state or jobs.RunState()
    lines = [
        f"Databricks run {run_id} ended {_state_name(state)}: {state.state_message or '-'}",
        f"Run page: {run.run_page_url or '-'}",
    ]
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


class _FixedPolling(BasePipesDatabricksClient):
    """Fixes 2 and 3: cancel on unexpected polling errors, explain failed runs."""

    def _poll_til_success(self, context: Any, run_id: int) -> None:
        try:
            super()._poll_til_success(context, run_id)
        except DagsterPipesExecutionError:
            raise DagsterPipesExecutionError(describe_failed_run(self.client, run_id)) from None
        except DagsterExecutionInterruptedError:
            raise  # the caller cancels the run and re-raises
        except Exception:
            context.log.error(
                f"Polling Databricks run {run_id} failed; cancelling the run so it does not "
                "keep running unobserved."
            )
            try:
                self.client.jobs.cancel_run(run_id)
            except Exception as cancel_error:
                context.log.error(f"Cancelling run {run_id} failed too: {cancel_error}")
            raise


class FixedPipesDatabricksClient(_FixedPolling, PipesDatabricksClient):
    """``PipesDatabricksClient`` with fixes 1 to 3 (classic and existing clusters)."""

    def run(  # type: ignore[override]
        self,
        *,
        context: Any,
        task: jobs.SubmitTask,
        extras: Mapping[str, Any] | None = None,
        submit_args: Mapping[str, Any] | None = None,
    ) -> Any:
        """Run one task through the multi-task path, which re-raises a Dagster termination."""
        return _run_single(self, context, task, extras, submit_args)


class FixedPipesDatabricksServerlessClient(_FixedPolling, PipesDatabricksServerlessClient):
    """``PipesDatabricksServerlessClient`` with fixes 1 to 3."""

    def run(  # type: ignore[override]
        self,
        *,
        context: Any,
        task: jobs.SubmitTask,
        extras: Mapping[str, Any] | None = None,
        submit_args: Mapping[str, Any] | None = None,
    ) -> Any:
        """Run one task through the multi-task path, which re-raises a Dagster termination."""
        return _run_single(self, context, task, extras, submit_args)


def _run_single(
    client: PipesDatabricksClient | PipesDatabricksServerlessClient,
    context: Any,
    task: jobs.SubmitTask,
    extras: Mapping[str, Any] | None,
    submit_args: Mapping[str, Any] | None,
) -> Any:
    tasks: Sequence[jobs.SubmitTask] = [task]
    # The injector and reader were given explicitly (see pipes.py), so the multi-task path
    # uses them unchanged: one task, one message destination.
    return client._submit_multi_task_and_poll(
        context=context,
        extras=extras,
        tasks=tasks,
        submit_args=submit_args,
        context_injector=client.context_injector,
        message_reader=client.message_reader,
    )
