"""Maintained by the template; changes arrive with `copier update`.

Reading Dagster results in tests: failure messages and materialization metadata.
"""

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
