"""Maintained by the template; changes arrive with `copier update`.

Reading Dagster results in tests (failure messages), waiting on local Databricks, and
interrupting a step the way a Dagster run termination does.
"""

import json
import signal
import subprocess
import sys
import time

import dagster as dg


def failure_text(result: dg.ExecuteInProcessResult) -> str:
    """Every message of the step failures, causes included."""
    messages = []
    for event in result.get_step_failure_events():
        error = event.step_failure_data.error
        while error is not None:
            messages.append(error.message)
            error = error.cause
    return "\n".join(messages)


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


# A child process materializing one asset with the project's resources at local speed.
CHILD_STEP = """
import json, sys
import dagster as dg
from local_databricks.project import activate, fast_resources
activate()  # the local_workspace fixture's wiring, from the variables it set
from {package}.definitions import defs
{setup}
result = dg.materialize([{asset}], resources=fast_resources(defs()), raise_on_error=False)
outcome = dict(
    success=result.success,
    materialized=bool(result.get_asset_materialization_events()),
    failed_steps=len(result.get_step_failure_events()),
)
print(json.dumps(outcome))
"""


def interrupt_while_running(server, code: str, cwd) -> dict:
    """Run ``code`` (a :data:`CHILD_STEP`) in a child process, send it SIGINT (what a Dagster
    run termination delivers to a step) once its run is RUNNING and polled, and wait for the
    remote run to end; return the child's outcome.
    """
    child = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: server.runs() and life_cycle(server) == "RUNNING", 120)
        started = polls(server)
        wait_for(lambda: polls(server) >= started + 2, 60)
    except AssertionError:
        child.kill()
        raise AssertionError(f"the run never started: {child.communicate()[1][-3000:]}") from None
    child.send_signal(signal.SIGINT)
    stdout, stderr = child.communicate(timeout=90)
    try:
        wait_for(lambda: life_cycle(server) == "TERMINATED", 60)
    except AssertionError:
        state = server.runs()[0]["state"]
        raise AssertionError(f"remote run still {state}; step logs: {stderr[-3000:]}") from None
    return json.loads(stdout.strip().splitlines()[-1])
