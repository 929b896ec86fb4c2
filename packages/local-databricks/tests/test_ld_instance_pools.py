"""Instance pools and the one list of runtime versions, through the SDK's own methods."""

import pytest
from databricks.sdk.errors import InvalidParameterValue, OperationFailed
from databricks.sdk.service import compute, jobs
from ld_helpers import assert_roundtrip, raw


def test_pool_lifecycle(local_databricks, w):
    created = w.instance_pools.create(
        instance_pool_name="pool", node_type_id="i3.xlarge", min_idle_instances=1, max_capacity=4
    )
    pool = w.instance_pools.get(created.instance_pool_id)
    assert pool.state == compute.InstancePoolState.ACTIVE
    assert (pool.instance_pool_name, pool.node_type_id, pool.max_capacity) == (
        "pool",
        "i3.xlarge",
        4,
    )
    _, _, body = raw(
        local_databricks,
        "GET",
        f"/api/2.0/instance-pools/get?instance_pool_id={pool.instance_pool_id}",
    )
    assert_roundtrip(compute.GetInstancePool.from_dict(body), body)
    w.instance_pools.edit(
        instance_pool_id=pool.instance_pool_id,
        instance_pool_name="renamed",
        node_type_id="i3.xlarge",
        max_capacity=8,
    )
    assert w.instance_pools.get(pool.instance_pool_id).max_capacity == 8
    with pytest.raises(InvalidParameterValue, match="cannot be changed"):
        w.instance_pools.edit(
            instance_pool_id=pool.instance_pool_id, instance_pool_name="x", node_type_id="m5.large"
        )
    # a cluster on the pool gets its node type and shows in the pool's stats
    cluster = w.clusters.create_and_wait(
        spark_version="12.2.x-scala2.12", instance_pool_id=pool.instance_pool_id, num_workers=0
    )
    assert cluster.node_type_id == "i3.xlarge"
    assert w.instance_pools.get(pool.instance_pool_id).stats.used_count == 1
    assert [p.instance_pool_name for p in w.instance_pools.list()] == ["renamed"]
    w.instance_pools.delete(pool.instance_pool_id)
    assert list(w.instance_pools.list()) == []
    with pytest.raises(InvalidParameterValue, match="does not exist"):
        w.instance_pools.get(pool.instance_pool_id)


def test_unknown_pools_are_refused(local_databricks, w, script):
    with pytest.raises(InvalidParameterValue, match="Instance pool nope does not exist"):
        w.clusters.create(spark_version="16.4.x-scala2.12", instance_pool_id="nope")
    path = script("print('never')\n")
    task = jobs.SubmitTask.from_dict(
        {
            "task_key": "t",
            "new_cluster": {"spark_version": "16.4.x-scala2.12", "instance_pool_id": "nope"},
            "spark_python_task": {"python_file": path},
        }
    )
    with pytest.raises(OperationFailed, match="INTERNAL_ERROR: Instance pool nope does not exist"):
        w.jobs.submit(tasks=[task]).result()
    for body, field in (
        ({"node_type_id": "i3.xlarge"}, "instance_pool_name"),
        ({"instance_pool_name": "p", "node_type_id": 3}, "node_type_id"),
        (
            {"instance_pool_name": "p", "node_type_id": "i3.xlarge", "max_capacity": "x"},
            "max_capacity",
        ),
    ):
        status, _, answer = raw(local_databricks, "POST", "/api/2.0/instance-pools/create", body)
        assert status == 400 and field in answer["message"], answer
    with pytest.raises(InvalidParameterValue, match="greater than max_capacity"):
        w.instance_pools.create(
            instance_pool_name="p", node_type_id="i3.xlarge", min_idle_instances=3, max_capacity=1
        )


def test_one_version_list_for_every_cluster_spec(w, script):
    keys = {v.key for v in w.clusters.spark_versions().versions}
    assert {"12.2.x-scala2.12", "16.4.x-scala2.12", "17.3.x-scala2.13"} <= keys
    for key in keys:
        w.clusters.create(spark_version=key, node_type_id="i3.xlarge", num_workers=0)
    with pytest.raises(InvalidParameterValue, match=r"Invalid spark version 9\.1\.x-scala2\.12"):
        w.clusters.create(spark_version="9.1.x-scala2.12", node_type_id="i3.xlarge")
    path = script("print('ok')\n")

    def submit(version):
        task = jobs.SubmitTask.from_dict(
            {
                "task_key": "t",
                "new_cluster": {"spark_version": version, "node_type_id": "i3.xlarge"},
                "spark_python_task": {"python_file": path},
            }
        )
        return w.jobs.submit(tasks=[task]).result()

    assert submit("12.2.x-scala2.12").state.result_state == jobs.RunResultState.SUCCESS
    with pytest.raises(OperationFailed, match=r"INTERNAL_ERROR: Invalid spark version 9\.1\.x"):
        submit("9.1.x-scala2.12")
