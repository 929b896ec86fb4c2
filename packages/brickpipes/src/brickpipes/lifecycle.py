"""The life of a Databricks run this step started, the same for a Pipes run (``runs/submit`` or
a one-time job) and for an existing job (``jobs/run-now``): start, wait, cancel.

* :func:`start` starts the run; interrupted mid-call, it cancels the run the call may have
  started (the idempotency token makes a second call return that run, not a new one).
* :meth:`RemoteRun.wait` polls ``runs/get`` until the run ends and returns it, logging each
  state change; rejected credentials fail naming the run left running.
* :meth:`RemoteRun.cancelled_on_failure` cancels the run when the step is terminated or the
  wait itself fails (a polling error): a remote run never keeps running unobserved.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import dagster as dg

from .errors import CredentialsRejectedMidRun, is_credential_rejection

if TYPE_CHECKING:
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.service.jobs import Run

# Life cycle states after which a run does no more work.
FINAL_STATES = frozenset({"TERMINATED", "SKIPPED", "INTERNAL_ERROR"})
# After a cancel, the task's code has stopped once the run reaches one of these.
STOPPED_STATES = FINAL_STATES | {"TERMINATING"}
CANCEL_ATTEMPTS = 3


def start(launch: Callable[[], int], cancel: Callable[[int], object]) -> int:
    """Start a run with ``launch`` (which must be idempotent) and return its id.

    A Dagster termination during the call may come after Databricks started the run: calling
    ``launch`` again returns that run (same idempotency token), which is then cancelled.
    """
    try:
        return launch()
    except dg.DagsterExecutionInterruptedError:
        with suppress(Exception, dg.DagsterExecutionInterruptedError):
            cancel(launch())
        raise


@dataclass
class RemoteRun:
    """A run this step started, watched until it ends."""

    client: WorkspaceClient
    run_id: int
    log: Any  # the step's DagsterLogManager
    auth: str  # the auth method and its variables (no secret), quoted when they are rejected
    poll_interval_seconds: float
    run_page_url: str | None = None

    def get(self) -> Run:
        """``runs/get``; rejected credentials raise :class:`CredentialsRejectedMidRun`."""
        try:
            run = self.client.jobs.get_run(self.run_id)
        except Exception as error:
            if not is_credential_rejection(error):
                raise
            host = self.client.config.host or "?"
            raise CredentialsRejectedMidRun(
                self.auth, host, self.run_id, self.run_page_url, error
            ) from error
        self.run_page_url = run.run_page_url or self.run_page_url
        return run

    def wait(self, sleep: Callable[[], None] | None = None) -> Run:
        """Poll until the run ends; return it, whatever its result.

        ``sleep`` waits between two polls (default: ``poll_interval_seconds``). The first poll
        waits too: a run just started is PENDING, there is nothing to learn yet.
        """
        last = None
        while True:
            (sleep or self._sleep)()
            run = self.get()
            life = life_cycle(run)
            if life != last:
                self.log.info(f"[pipes] Databricks run {self.run_id} is {life}")
                last = life
            if life in FINAL_STATES:
                return run

    def cancel(self) -> bool:
        """Cancel the run, retrying: a second interrupt or a transient error may hit the call."""
        for attempt in range(1, CANCEL_ATTEMPTS + 1):
            try:
                self.client.jobs.cancel_run(self.run_id)
                return True
            except (Exception, dg.DagsterExecutionInterruptedError) as error:
                self.log.error(f"Cancelling run {self.run_id} failed (try {attempt}): {error!r}")
                if isinstance(error, TimeoutError):
                    break  # the SDK retried for its whole budget: the workspace is unreachable
                time.sleep(attempt)
        return False

    @contextmanager
    def cancelled_on_failure(self) -> Iterator[None]:
        """Cancel the run if the block is interrupted (Dagster termination) or fails."""
        try:
            yield
        except dg.DagsterExecutionInterruptedError:
            self.log.warning(f"Dagster run terminated: cancelling Databricks run {self.run_id}.")
            if self.cancel():
                with suppress(Exception, dg.DagsterExecutionInterruptedError):
                    self._wait_until_stopped()
            raise
        except CredentialsRejectedMidRun:
            raise  # these credentials cannot cancel it; the failure says who must
        except Exception:
            self.log.error(
                f"Watching Databricks run {self.run_id} failed; cancelling the run so it does "
                "not keep running unobserved."
            )
            self.cancel()
            raise

    def _wait_until_stopped(self) -> None:
        while life_cycle(self.get()) not in STOPPED_STATES:
            self._sleep()

    def _sleep(self) -> None:
        time.sleep(self.poll_interval_seconds)


def life_cycle(run: Run) -> str:
    """The run's life cycle state, e.g. ``RUNNING``."""
    state = run.state.life_cycle_state if run.state else None
    return state.value if state else "UNKNOWN"


def succeeded(run: Run) -> bool:
    """True when the run ended with result state ``SUCCESS``."""
    result = run.state.result_state if run.state else None
    return result is not None and result.value == "SUCCESS"
