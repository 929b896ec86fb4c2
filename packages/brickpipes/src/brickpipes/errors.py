"""What a failed Databricks run, or rejected credentials, say in the step failure: the run id
and page, then per failed task its key, state and the tail of its error output.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import dagster as dg
from dagster._core.errors import DagsterPipesExecutionError

if TYPE_CHECKING:
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.service.jobs import RunState

# How much of the remote error output goes into the step failure.
ERROR_TAIL_CHARS = 2000
# A traceback's last line: the exception's (dotted) type name, then its message.
EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt|Failure)\b(: .*)?$")


class DatabricksRunFailed(DagsterPipesExecutionError):
    """A Databricks run failed; ``results`` holds what its successful tasks reported."""

    def __init__(self, message: str, results: Sequence[Any]):
        super().__init__(message)
        self.results = list(results)


class CredentialsRejectedMidRun(dg.Failure):
    """Databricks rejected the credentials while Dagster watched a run it had started.

    Nobody watches the run any more and these credentials cannot cancel it, so the failure
    names the run and its page for someone who can.
    """

    def __init__(
        self, auth: str, host: str, run_id: int, run_page_url: str | None, error: BaseException
    ):
        page = run_page_url or f"not known yet: find run {run_id} under Job Runs at {host}"
        super().__init__(
            description=(
                f"Databricks rejected the credentials ({auth}) while Dagster was watching run "
                f"{run_id}: {first_line(error)}\n"
                f"Run page: {page}\n"
                f"The run may still be working (and costing money). Someone with valid "
                f"credentials must cancel run {run_id} there if it should not finish; then "
                "renew these credentials and run this step again."
            )
        )


def first_line(error: BaseException) -> str:
    """The first line of an error's text (SDK errors carry the whole response after it)."""
    return (str(error).splitlines() or [type(error).__name__])[0]


def is_credential_rejection(error: BaseException) -> bool:
    """True when Databricks refused the credentials: 401, 403, or the OAuth token endpoint
    refusing the client (the SDK's ValueError, RFC 6749 section 5.2 error codes)."""
    from databricks.sdk.errors import PermissionDenied, Unauthenticated

    if isinstance(error, ValueError):
        # The SDK may prefix the token endpoint's answer with "<auth_type> auth: ".
        message = str(error).split(" auth: ", 1)[-1] if " auth: " in str(error) else str(error)
        return message.startswith(("invalid_client", "unauthorized_client", "invalid_grant"))
    return isinstance(error, (Unauthenticated, PermissionDenied))


def state_name(state: RunState | None, *, with_life_cycle: bool = False) -> str:
    """A run or task state as one word: its result state (``SUCCESS``, ``FAILED``...), else its
    life cycle state; ``with_life_cycle`` gives both, e.g. ``TERMINATED/TIMEDOUT``."""
    if state is None:
        return "UNKNOWN"
    life = state.life_cycle_state.value if state.life_cycle_state else "UNKNOWN"
    result = state.result_state.value if state.result_state else None
    if result is None:
        return life
    return f"{life}/{result}" if with_life_cycle else result


def task_error(client: WorkspaceClient, task_run_id: int | None) -> str:
    """The tail of a task run's error output (traceback), or "" when there is none."""
    if task_run_id is None:
        return ""
    try:
        output = client.jobs.get_run_output(task_run_id)
    except Exception:  # the description must never hide the original failure
        return ""
    text = output.error_trace or output.error or ""
    return text[-ERROR_TAIL_CHARS:].strip()


def remote_cause(error: str) -> str:
    """The remote exception of an error output, ``Type: message`` (its last such line), or ""."""
    for line in reversed(error.splitlines()):
        if EXCEPTION_LINE.match(line.strip()):
            return line.strip()
    return ""


def describe_failed_run(
    client: WorkspaceClient, run_id: int, timeout_seconds: int | None = None
) -> str:
    """Describe a failed run. The first line leads with the cause: the remote exception (its
    type and message) with the run, task and page; then the run's state, and per failed task
    its key, state and error tail."""
    from databricks.sdk.service.jobs import RunResultState

    run = client.jobs.get_run(run_id)
    state = run.state
    page = run.run_page_url or "-"
    lines = [
        f"Databricks run {run_id} ended {state_name(state, with_life_cycle=True)}: "
        f"{(state.state_message if state else None) or '-'}",
        f"Run page: {page}",
    ]
    if state is not None and state.result_state == RunResultState.TIMEDOUT:
        lines.append(
            f"The run exceeded its timeout_seconds ({timeout_seconds or '?'} s, cluster start "
            "included) and Databricks cancelled it; raise it in clusters.yml if that is expected."
        )
    causes = []
    for task in run.tasks or []:
        if task.state is not None and task.state.result_state == RunResultState.SUCCESS:
            continue
        lines.append(
            f"Task '{task.task_key}' (task run {task.run_id}) ended "
            f"{state_name(task.state, with_life_cycle=True)}: "
            f"{(task.state.state_message if task.state else None) or '-'}"
        )
        error = task_error(client, task.run_id)
        if error:
            lines.append(f"Remote error output (tail):\n{error}")
            cause = remote_cause(error)
            if cause:
                causes.append(f"{cause} (Databricks run {run_id}, task '{task.task_key}': {page})")
    return "\n".join(causes[:1] + lines)
