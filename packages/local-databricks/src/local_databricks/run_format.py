"""The runs/get wire format: a run, a task and a task run as the service returns them."""

from __future__ import annotations

import copy

from .runs import TERMINAL, V2_STATES, Run, TaskRun
from .util import WORKSPACE_ID, now_ms, prune

# Fields of a submitted task that runs/get echoes back (those RunTask knows).
RUN_TASK_FIELDS = (
    "task_key",
    "description",
    "depends_on",
    "run_if",
    "timeout_seconds",
    "existing_cluster_id",
    "new_cluster",
    "job_cluster_key",
    "environment_key",
    "libraries",
    "spark_python_task",
    "notebook_task",
    "python_wheel_task",
    "email_notifications",
    "notification_settings",
    "webhook_notifications",
    "disabled",
)


def page_url(host: str, run: Run, run_id: int) -> str:
    """The run page URL of the real UI, pointing at this server."""
    return f"{host}/?o={WORKSPACE_ID}#job/{run.job_id}/run/{run_id}"


def render_run(
    host: str, run: Run, include_tasks: bool = True, include_history: bool = False
) -> dict:
    """A run as runs/get returns it (the caller holds the run lock)."""
    visible = run.visible()
    end = run.end_time if run.done() else 0
    body = {
        "job_id": run.job_id,
        "run_id": run.run_id,
        "number_in_job": run.number_in_job,
        "original_attempt_run_id": run.run_id,
        "creator_user_name": run.creator,
        "run_name": run.run_name,
        "run_type": run.run_type,
        "run_page_url": page_url(host, run, run.run_id),
        "start_time": run.start_time,
        "setup_duration": 0,
        "execution_duration": 0,
        "cleanup_duration": 0,
        "end_time": end,
        "run_duration": (end or now_ms()) - run.start_time,
        "attempt_number": 0,
        "state": state_json(run.life, run.result, run.message, run.user_cancelled_or_timedout),
        "status": status_json(run.life, run.termination, run.message, queue_details(run)),
        "queue_duration": run.queue_duration,
        "job_clusters": copy.deepcopy(run.job_clusters),
        "job_parameters": copy.deepcopy(run.job_parameters),
        "overriding_parameters": copy.deepcopy(run.overriding_parameters),
        "trigger": run.trigger,
    }
    if include_tasks:
        body["tasks"] = [render_task(host, run, t) for t in visible]
        body["has_more"] = False
    if include_history:
        body["repair_history"] = repair_history(run)
    if len(run.current()) == 1:
        only = run.current()[0]
        if only.slot and only.slot.cluster_id:
            body["cluster_instance"] = cluster_instance(only)
    return prune(body)


def repair_history(run: Run) -> list[dict]:
    """ORIGINAL, then one REPAIR item per repair, each with the task runs it ran."""
    items = []
    for index, cycle in enumerate(run.cycles):
        live = index == len(run.cycles) - 1 and not run.done()
        item = {
            "type": "REPAIR" if index else "ORIGINAL",
            "id": cycle.get("id"),
            "start_time": cycle["start_time"],
            "end_time": 0 if live else cycle.get("end_time", 0),
            "task_run_ids": [t.run_id for t in run.tasks if t.cycle == index],
        }
        if live:
            item["state"] = state_json(
                run.life, run.result, run.message, run.user_cancelled_or_timedout
            )
            item["status"] = status_json(run.life, run.termination, run.message)
        else:
            item["state"] = copy.deepcopy(cycle.get("state"))
            item["status"] = copy.deepcopy(cycle.get("status"))
        items.append(item)
    return items


def render_task(host: str, run: Run, task: TaskRun) -> dict:
    """One entry of `tasks` in runs/get."""
    body = {k: copy.deepcopy(task.spec[k]) for k in RUN_TASK_FIELDS if k in task.spec}
    body.update(
        {
            "run_id": task.run_id,
            "run_if": task.run_if,
            "attempt_number": task.attempt_number,
            "start_time": task.start_time,
            "end_time": task.end_time if task.life in TERMINAL else 0,
            "run_page_url": page_url(host, run, task.run_id),
            "state": state_json(
                task.life, task.result, task.message, task.user_cancelled_or_timedout
            ),
            "status": status_json(task.life, task.termination, task.message),
        }
    )
    body.update(durations(task))
    if task.slot is not None and task.slot.cluster_id and task.life != "BLOCKED":
        body["cluster_instance"] = cluster_instance(task)
    return prune(body)


def render_task_run(host: str, run: Run, task: TaskRun) -> dict:
    """runs/get for a task run id: a Run-shaped view of that one task."""
    body = render_run(host, run, include_tasks=False)
    task_json = render_task(host, run, task)
    body.update(
        {
            "run_id": task.run_id,
            "original_attempt_run_id": task.original_attempt_run_id or task.run_id,
            "attempt_number": task.attempt_number,
            "run_page_url": task_json["run_page_url"],
            "start_time": task.start_time,
            "end_time": task_json.get("end_time", 0),
            "state": task_json["state"],
            "status": task_json["status"],
            "tasks": [task_json],
            "has_more": False,
        }
    )
    body.update(durations(task))
    if "cluster_instance" in task_json:
        body["cluster_instance"] = task_json["cluster_instance"]
    else:
        body.pop("cluster_instance", None)
    return prune(body)


def durations(task: TaskRun) -> dict:
    end = task.end_time if task.life in TERMINAL else 0
    setup = (task.running_since or end or now_ms()) - task.start_time if task.start_time else 0
    execution = 0
    if task.running_since:
        execution = (task.process_end or end or now_ms()) - task.running_since
    cleanup = end - task.process_end if (end and task.process_end) else 0
    return {
        "setup_duration": max(0, setup),
        "execution_duration": max(0, execution),
        "cleanup_duration": max(0, cleanup),
        "run_duration": max(0, (end or now_ms()) - task.start_time) if task.start_time else 0,
    }


def cluster_instance(task: TaskRun) -> dict:
    assert task.slot is not None
    return {
        "cluster_id": task.slot.cluster_id,
        "spark_context_id": str(task.slot.spec.get("spark_context_id", "")),
    }


def state_json(life: str, result: str | None, message: str, cancelled: bool) -> dict:
    state = {
        "life_cycle_state": life,
        "state_message": message,
        "user_cancelled_or_timedout": cancelled,
    }
    if result is not None and life in TERMINAL:
        state["result_state"] = result
    return state


def queue_details(run: Run) -> dict | None:
    if run.life != "QUEUED":
        return None
    return {
        "code": "MAX_CONCURRENT_RUNS_REACHED",
        "message": (
            f"Queued due to reaching the maximum concurrent runs ({run.max_concurrent_runs}) "
            "of the job."
        ),
    }


def status_json(
    life: str, termination: tuple[str, str] | None, message: str, queue: dict | None = None
) -> dict:
    status: dict = {"state": V2_STATES.get(life, life)}
    if queue:
        status["queue_details"] = queue
    if life in TERMINAL and termination is not None:
        status["termination_details"] = {
            "code": termination[0],
            "type": termination[1],
            "message": message,
        }
    return status
