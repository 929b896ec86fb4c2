"""Reading Dagster results in tests (failure messages), waiting on local Databricks, and
interrupting a step the way a Dagster run termination does.
"""

import os
import signal
import threading
import time
from collections.abc import Callable

import dagster as dg

from brickpipes.testing import failure_text

__all__ = ["failure_text", "interrupt_while_running", "life_cycle", "polls", "wait_for"]


def wait_for(predicate, timeout: float = 30) -> None:
    """Poll ``predicate`` until it holds (local Databricks runs are asynchronous)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for local Databricks"
        time.sleep(0.1)


def life_cycle(server) -> str:
    """The life cycle state of the one run ``server`` (local Databricks) holds."""
    (run,) = server.runs()
    return run["state"]["life_cycle_state"]


def polls(server) -> int:
    """How many ``runs/get`` calls ``server`` answered."""
    return sum(call["path"].endswith("/runs/get") for call in server.calls())


def interrupt_while_running(
    server, materialize: Callable[[], dg.ExecuteInProcessResult]
) -> dg.ExecuteInProcessResult:
    """Call ``materialize`` and, once its run is RUNNING and polled, send this process SIGINT
    (what a Dagster run termination delivers to a step); wait for the remote run to end and
    return the result.

    Dagster turns the signal into the step's interruption as it does in a run worker, but only
    on the main thread, where pytest (and each pytest-xdist worker) runs tests.
    """
    assert threading.current_thread() is threading.main_thread(), "SIGINT needs the main thread"
    lock = threading.Lock()
    materializing = [True]
    problems: list[str] = []

    def interrupt() -> None:
        try:
            wait_for(lambda: server.runs() and life_cycle(server) == "RUNNING", 120)
            started = polls(server)
            wait_for(lambda: polls(server) >= started + 2, 60)
        except AssertionError:
            problems.append("the run never started and was polled")
        with lock:  # never after materialize() returned: pytest would take it as Ctrl-C
            if materializing[0]:
                os.kill(os.getpid(), signal.SIGINT)

    interrupter = threading.Thread(target=interrupt, daemon=True)
    interrupter.start()
    try:
        result = materialize()
    finally:
        with lock:
            materializing[0] = False
    interrupter.join()
    assert not problems, problems
    try:
        wait_for(lambda: life_cycle(server) == "TERMINATED", 60)
    except AssertionError:
        state = server.runs()[0]["state"]
        raise AssertionError(f"remote run still {state}: {failure_text(result)}") from None
    return result
