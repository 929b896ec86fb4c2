"""All-purpose clusters: lifecycle, events, node types, and runs on a terminated cluster."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from databricks.sdk.errors import InvalidParameterValue, InvalidState, ResourceDoesNotExist
from databricks.sdk.service import compute, jobs
from ld_helpers import assert_roundtrip, raw

WAIT = timedelta(seconds=30)


def _create(w, **extra):
    return w.clusters.create(
        cluster_name="dev",
        spark_version="16.4.x-scala2.12",
        node_type_id="i3.xlarge",
        num_workers=0,
        autotermination_minutes=30,
        **extra,
    )


def test_cluster_lifecycle(local_databricks, w):
    local_databricks.set_cluster_start_seconds(1.0)
    waiter = _create(w, spark_env_vars={"A": "1"})
    first = w.clusters.get(waiter.cluster_id)
    assert first.state == compute.State.PENDING
    assert first.cluster_source == compute.ClusterSource.API
    running = waiter.result(timeout=WAIT)
    assert running.state == compute.State.RUNNING
    assert running.spark_env_vars == {"A": "1"}
    _, _, body = raw(
        local_databricks, "GET", f"/api/2.1/clusters/get?cluster_id={running.cluster_id}"
    )
    assert_roundtrip(w.clusters.get(running.cluster_id), body)
    assert running.cluster_id in [c.cluster_id for c in w.clusters.list()]

    # restart: RUNNING -> RESTARTING -> RUNNING
    restarting = w.clusters.restart(running.cluster_id)
    assert w.clusters.get(running.cluster_id).state == compute.State.RESTARTING
    restarting.result(timeout=WAIT)

    # terminate: TERMINATING -> TERMINATED with the reason
    deleting = w.clusters.delete(running.cluster_id)
    assert w.clusters.get(running.cluster_id).state == compute.State.TERMINATING
    terminated = deleting.result(timeout=WAIT)
    assert terminated.state == compute.State.TERMINATED
    assert terminated.termination_reason.code == compute.TerminationReasonCode.USER_REQUEST
    with pytest.raises(InvalidState, match="unexpected state Terminated"):
        w.clusters.restart(running.cluster_id)

    # edit a terminated cluster: stays TERMINATED with the new spec
    w.clusters.edit(
        running.cluster_id,
        spark_version="15.4.x-scala2.12",
        cluster_name="dev2",
        node_type_id="m5d.large",
        num_workers=1,
    )
    edited = w.clusters.get(running.cluster_id)
    assert (edited.state, edited.cluster_name, edited.num_workers) == (
        compute.State.TERMINATED,
        "dev2",
        1,
    )
    assert edited.spark_env_vars is None

    # start: TERMINATED -> PENDING -> RUNNING
    starting = w.clusters.start(running.cluster_id)
    assert w.clusters.get(running.cluster_id).state == compute.State.PENDING
    assert starting.result(timeout=WAIT).state == compute.State.RUNNING
    with pytest.raises(InvalidState, match="unexpected state Running"):
        w.clusters.start(running.cluster_id)

    # edit a running cluster: it restarts
    w.clusters.edit(running.cluster_id, spark_version="16.4.x-scala2.12", node_type_id="i3.xlarge")
    assert w.clusters.get(running.cluster_id).state == compute.State.RESTARTING

    types = [
        e.type for e in w.clusters.events(running.cluster_id, order=compute.GetEventsOrder.ASC)
    ]
    assert types[:6] == [
        compute.EventType.CREATING,
        compute.EventType.RUNNING,
        compute.EventType.RESTARTING,
        compute.EventType.RUNNING,
        compute.EventType.TERMINATING,
        compute.EventType.EDITED,
    ]
    assert types[-2:] == [compute.EventType.EDITED, compute.EventType.RESTARTING]
    newest = next(iter(w.clusters.events(running.cluster_id)))
    assert newest.type == compute.EventType.RESTARTING
    # paging through next_page
    assert len(list(w.clusters.events(running.cluster_id, limit=2))) == len(types)

    w.clusters.permanent_delete(running.cluster_id)
    with pytest.raises(ResourceDoesNotExist):
        w.clusters.get(running.cluster_id)
    assert running.cluster_id not in [c.cluster_id for c in w.clusters.list()]


def test_create_validation(local_databricks, w):
    with pytest.raises(InvalidParameterValue, match="spark_version"):
        w.clusters.create(spark_version="", node_type_id="i3.xlarge")
    with pytest.raises(InvalidParameterValue, match="Node type"):
        w.clusters.create(spark_version="16.4.x-scala2.12", node_type_id="nope")
    status, _, body = raw(
        local_databricks,
        "POST",
        "/api/2.1/clusters/create",
        {"spark_version": "16.4.x-scala2.12", "node_type_id": "i3.xlarge", "num_workers": "x"},
    )
    assert status == 400 and "num_workers" in body["message"]
    with pytest.raises(InvalidParameterValue, match="does not exist"):
        w.clusters.start("0101-000000-nothing0")


def test_node_types_select_local_disk(local_databricks, w):
    _, _, body = raw(local_databricks, "GET", "/api/2.1/clusters/list-node-types")
    listed = w.clusters.list_node_types()
    assert listed.as_dict() == body
    for node in listed.node_types:
        assert node.node_instance_type.instance_type_id == node.node_type_id
    chosen = w.clusters.select_node_type(local_disk=True)
    chosen_type = next(n for n in listed.node_types if n.node_type_id == chosen)
    instance = chosen_type.node_instance_type
    assert (instance.local_disks or 0) + (instance.local_nvme_disks or 0) >= 1
    assert w.clusters.select_node_type(local_disk=True, min_memory_gb=60)
    assert w.clusters.select_node_type(min_cores=8, local_disk_min_size=1000) == "i3.2xlarge"


def test_run_starts_a_terminated_cluster(local_databricks, w, script):
    local_databricks.set_cluster_start_seconds(0.5)
    cluster_id = _create(w).result(timeout=WAIT).cluster_id
    w.clusters.delete(cluster_id).result(timeout=WAIT)
    path = script("print('on the cluster')\n")
    waiter = w.jobs.submit(
        run_name="on-terminated",
        tasks=[
            jobs.SubmitTask(
                task_key="t",
                existing_cluster_id=cluster_id,
                spark_python_task=jobs.SparkPythonTask(python_file=path),
            )
        ],
    )
    time.sleep(0.1)
    assert w.clusters.get(cluster_id).state in (compute.State.PENDING, compute.State.RUNNING)
    run = waiter.result(timeout=timedelta(seconds=60))
    assert run.state.result_state == jobs.RunResultState.SUCCESS
    assert run.tasks[0].setup_duration >= 400
    assert w.clusters.get(cluster_id).state == compute.State.RUNNING
    events = [e.type for e in w.clusters.events(cluster_id, order=compute.GetEventsOrder.ASC)]
    assert events[-2:] == [compute.EventType.STARTING, compute.EventType.RUNNING]
