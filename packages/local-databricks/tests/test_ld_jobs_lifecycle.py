"""Job queueing, task retries, runs/repair and runs/delete through the SDK's own methods."""

import time
from datetime import timedelta

import pytest
from databricks.sdk.errors import InvalidParameterValue, InvalidState, ResourceDoesNotExist
from databricks.sdk.service import jobs
from ld_helpers import assert_roundtrip, raw

WAIT = timedelta(seconds=60)
CLUSTER = {"spark_version": "16.4.x-scala2.12", "node_type_id": "i3.xlarge", "num_workers": 0}


def _job(w, tasks: list[dict], **settings) -> int:
    spec = jobs.JobSettings.from_dict({"name": "lifecycle", "tasks": tasks, **settings})
    return w.jobs.create(
        name=spec.name,
        tasks=spec.tasks,
        max_concurrent_runs=spec.max_concurrent_runs,
        queue=spec.queue,
        parameters=spec.parameters,
    ).job_id


def _task(key: str, path: str, **extra) -> dict:
    return {
        "task_key": key,
        "new_cluster": CLUSTER,
        "spark_python_task": {"python_file": path},
        **extra,
    }


def _wait_for(predicate, what: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _gate_script(script, gate) -> str:
    """A task that runs until the file `gate` exists."""
    return script(
        f"""
import os, time
while not os.path.exists({str(gate)!r}):
    time.sleep(0.05)
print("through")
""",
        "gate.py",
    )


def test_queue_when_max_concurrent_runs_is_reached(local_databricks, w, script, tmp_path):
    gate = tmp_path / "open"
    job_id = _job(
        w, [_task("t", _gate_script(script, gate))], max_concurrent_runs=1, queue={"enabled": True}
    )
    first = w.jobs.run_now(job_id).run_id
    _wait_for(
        lambda: w.jobs.get_run(first).state.life_cycle_state == jobs.RunLifeCycleState.RUNNING,
        "the first run to start",
    )
    second = w.jobs.run_now(job_id).run_id
    third = w.jobs.run_now(job_id).run_id
    fourth = w.jobs.run_now(job_id).run_id
    queued = w.jobs.get_run(second)
    assert queued.state.life_cycle_state == jobs.RunLifeCycleState.QUEUED
    assert queued.status.state == jobs.RunLifecycleStateV2State.QUEUED
    assert queued.status.queue_details.code == jobs.QueueDetailsCodeCode.MAX_CONCURRENT_RUNS_REACHED
    assert queued.tasks[0].state.life_cycle_state == jobs.RunLifeCycleState.QUEUED
    _, _, body = raw(local_databricks, "GET", f"/api/2.2/jobs/runs/get?run_id={second}")
    assert_roundtrip(jobs.Run.from_dict(body), body)
    # a queued run can be cancelled without ever running
    w.jobs.cancel_run(fourth).result(timeout=WAIT)
    cancelled = w.jobs.get_run(fourth)
    assert cancelled.state.result_state == jobs.RunResultState.CANCELED
    assert cancelled.tasks[0].execution_duration in (None, 0)

    gate.write_text("go")
    runs = [
        w.jobs.wait_get_run_job_terminated_or_skipped(r, timeout=WAIT)
        for r in (first, second, third)
    ]
    assert [r.state.result_state for r in runs] == [jobs.RunResultState.SUCCESS] * 3
    starts = [r.tasks[0].start_time for r in runs]
    assert starts == sorted(starts)  # in order, one at a time
    assert runs[1].tasks[0].start_time >= runs[0].end_time
    assert runs[2].queue_duration > 0


def test_skipped_when_queueing_is_disabled(local_databricks, w, script, tmp_path):
    gate = tmp_path / "open"
    job_id = _job(w, [_task("t", _gate_script(script, gate))], max_concurrent_runs=1)
    first = w.jobs.run_now(job_id).run_id
    skipped = w.jobs.run_now(job_id).result(timeout=WAIT)
    assert skipped.state.life_cycle_state == jobs.RunLifeCycleState.SKIPPED
    assert skipped.state.state_message == (
        "Skipping this run because the limit of 1 maximum concurrent runs has been reached."
    )
    assert skipped.status.termination_details.code == (
        jobs.TerminationCodeCode.MAX_CONCURRENT_RUNS_EXCEEDED
    )
    # run-now's own `queue` overrides the job's setting
    queued = w.jobs.run_now(job_id, queue=jobs.QueueSettings(enabled=True)).run_id
    assert w.jobs.get_run(queued).state.life_cycle_state == jobs.RunLifeCycleState.QUEUED
    gate.write_text("go")
    for run_id in (first, queued):
        run = w.jobs.wait_get_run_job_terminated_or_skipped(run_id, timeout=WAIT)
        assert run.state.result_state == jobs.RunResultState.SUCCESS


def test_retries_with_attempt_numbers(local_databricks, w, script, tmp_path):
    counter = tmp_path / "attempts"
    flaky = script(
        f"""
import pathlib
counter = pathlib.Path({str(counter)!r})
n = int(counter.read_text()) if counter.exists() else 0
counter.write_text(str(n + 1))
if n < 2:
    raise RuntimeError(f"attempt {{n}} fails")
print("attempt", n, "works")
""",
        "flaky.py",
    )
    after = script("print('after')\n", "after.py")
    job_id = _job(
        w,
        [
            _task("flaky", flaky, max_retries=3, min_retry_interval_millis=400),
            _task("after", after, depends_on=[{"task_key": "flaky"}]),
        ],
    )
    run_id = w.jobs.run_now(job_id).run_id
    waiting = _wait_for(
        lambda: next(
            (
                t
                for t in w.jobs.get_run(run_id).tasks
                if t.state.life_cycle_state == jobs.RunLifeCycleState.WAITING_FOR_RETRY
            ),
            None,
        ),
        "an attempt WAITING_FOR_RETRY",
    )
    assert waiting.status.state == jobs.RunLifecycleStateV2State.WAITING
    _, _, body = raw(local_databricks, "GET", f"/api/2.2/jobs/runs/get?run_id={run_id}")
    assert_roundtrip(jobs.Run.from_dict(body), body)

    run = w.jobs.wait_get_run_job_terminated_or_skipped(run_id, timeout=WAIT)
    assert run.state.result_state == jobs.RunResultState.SUCCESS
    attempts = [t for t in run.tasks if t.task_key == "flaky"]
    assert [t.attempt_number for t in attempts] == [0, 1, 2]
    assert [t.state.result_state for t in attempts] == [
        jobs.RunResultState.FAILED,
        jobs.RunResultState.FAILED,
        jobs.RunResultState.SUCCESS,
    ]
    # the interval counts from the start of the failed attempt
    assert attempts[1].start_time - attempts[0].start_time >= 400
    assert [t.task_key for t in run.tasks].count("after") == 1
    last = w.jobs.get_run(attempts[2].run_id)
    assert last.attempt_number == 2
    assert last.original_attempt_run_id == attempts[0].run_id
    assert w.jobs.get_run_output(attempts[0].run_id).error == "RuntimeError: attempt 0 fails"


def test_retries_exhausted_and_timeouts(local_databricks, w, script):
    bad = script("raise SystemExit(1)\n", "bad.py")
    slow = script("import time\ntime.sleep(30)\n", "slow.py")
    job_id = _job(
        w,
        [
            _task("bad", bad, max_retries=1),
            _task("slow", slow, timeout_seconds=1, max_retries=2),
            _task("slow_retried", slow, timeout_seconds=1, max_retries=1, retry_on_timeout=True),
        ],
    )
    run = w.jobs.run_now(job_id).result(timeout=WAIT)
    assert run.state.result_state == jobs.RunResultState.FAILED
    by_key: dict[str, list] = {}
    for task in run.tasks:
        by_key.setdefault(task.task_key, []).append(task.state.result_state)
    assert by_key == {
        "bad": [jobs.RunResultState.FAILED, jobs.RunResultState.FAILED],
        "slow": [jobs.RunResultState.TIMEDOUT],
        "slow_retried": [jobs.RunResultState.TIMEDOUT, jobs.RunResultState.TIMEDOUT],
    }


def test_repair_failed_tasks_and_history(local_databricks, w, script, tmp_path):
    fixed = tmp_path / "fixed"
    first = script("print('a')\n", "a.py")
    second = script(
        f"""
import os
if not os.path.exists({str(fixed)!r}):
    raise RuntimeError("not fixed yet")
print("b works")
""",
        "b.py",
    )
    job_id = _job(w, [_task("a", first), _task("b", second, depends_on=[{"task_key": "a"}])])
    run = w.jobs.run_now(job_id).result(timeout=WAIT)
    assert run.state.result_state == jobs.RunResultState.FAILED
    original = {t.task_key: t.run_id for t in run.tasks}

    with pytest.raises(InvalidParameterValue, match="Exactly one of"):
        w.jobs.repair_run(run.run_id)
    with pytest.raises(InvalidParameterValue, match="nope"):
        w.jobs.repair_run(run.run_id, rerun_tasks=["nope"])

    fixed.write_text("yes")
    waiter = w.jobs.repair_run(run.run_id, rerun_all_failed_tasks=True)
    repair_id = waiter.response.repair_id
    assert repair_id
    with pytest.raises(InvalidState):
        w.jobs.repair_run(run.run_id, rerun_tasks=["a"], latest_repair_id=repair_id)
    repaired = waiter.result(timeout=WAIT)
    assert repaired.state.result_state == jobs.RunResultState.SUCCESS
    tasks = {t.task_key: t for t in repaired.tasks}
    assert tasks["a"].run_id == original["a"]  # kept
    assert tasks["b"].run_id != original["b"]  # rerun
    assert tasks["b"].state.result_state == jobs.RunResultState.SUCCESS

    history = w.jobs.get_run(run.run_id, include_history=True).repair_history
    assert [h.type for h in history] == [
        jobs.RepairHistoryItemType.ORIGINAL,
        jobs.RepairHistoryItemType.REPAIR,
    ]
    assert history[0].state.result_state == jobs.RunResultState.FAILED
    assert sorted(history[0].task_run_ids) == sorted(original.values())
    assert history[1].id == repair_id
    assert history[1].task_run_ids == [tasks["b"].run_id]
    assert history[1].state.result_state == jobs.RunResultState.SUCCESS
    _, _, body = raw(
        local_databricks, "GET", f"/api/2.2/jobs/runs/get?run_id={run.run_id}&include_history=true"
    )
    assert_roundtrip(jobs.Run.from_dict(body), body)
    # the replaced attempt is still readable by its own run id
    assert w.jobs.get_run(original["b"]).state.result_state == jobs.RunResultState.FAILED

    # a later repair names the latest one; rerun_dependent_tasks pulls in b
    with pytest.raises(InvalidParameterValue, match="latest_repair_id"):
        w.jobs.repair_run(run.run_id, rerun_tasks=["a"])
    again = w.jobs.repair_run(
        run.run_id, rerun_tasks=["a"], rerun_dependent_tasks=True, latest_repair_id=repair_id
    ).result(timeout=WAIT)
    assert again.state.result_state == jobs.RunResultState.SUCCESS
    assert {t.task_key for t in again.tasks} == {"a", "b"}
    assert tasks["a"].run_id not in {t.run_id for t in again.tasks}
    assert len(w.jobs.get_run(run.run_id, include_history=True).repair_history) == 3


def test_delete_run(local_databricks, w, script, tmp_path):
    gate = tmp_path / "open"
    job_id = _job(w, [_task("t", _gate_script(script, gate))])
    run_id = w.jobs.run_now(job_id).run_id
    with pytest.raises(InvalidState, match="active"):
        w.jobs.delete_run(run_id)
    gate.write_text("go")
    w.jobs.wait_get_run_job_terminated_or_skipped(run_id, timeout=WAIT)
    task_run_id = w.jobs.get_run(run_id).tasks[0].run_id
    w.jobs.delete_run(run_id)
    with pytest.raises(ResourceDoesNotExist):
        w.jobs.get_run(run_id)
    with pytest.raises(ResourceDoesNotExist):
        w.jobs.get_run(task_run_id)
    assert run_id not in [r.run_id for r in w.jobs.list_runs(job_id=job_id)]
