"""The one test that starts a real local Spark (needs Java 17+)."""

import os
import shutil

import pytest
from databricks.sdk.service import jobs

pytestmark = pytest.mark.skipif(
    shutil.which("java") is None, reason="java is not installed: local Spark needs Java 17+"
)


def test_real_local_spark_session(w, script):
    path = script(
        """
from pyspark.sql import SparkSession
spark = SparkSession.builder.getOrCreate()
df = spark.createDataFrame([(1, "a"), (2, "b")], ["id", "name"])
df.write.mode("overwrite").saveAsTable("main.analytics.letters")
print("rows", spark.table("main.analytics.letters").count())
print("active", SparkSession.getActiveSession() is spark)
print("master", spark.sparkContext.master)
"""
    )
    task = jobs.SubmitTask.from_dict(
        {
            "task_key": "spark",
            "new_cluster": {"spark_version": "16.4.x-scala2.12", "num_workers": 0},
            "spark_python_task": {"python_file": path},
        }
    )
    run = w.jobs.submit(tasks=[task]).result()
    output = w.jobs.get_run_output(run.tasks[0].run_id)
    assert run.state.result_state == jobs.RunResultState.SUCCESS, output.error_trace
    assert output.logs.splitlines() == ["rows 2", "active True", "master local[1]"]


def test_tasks_share_one_local_spark(local_databricks, w, script):
    """Shared mode (the default): runs attach to one warm JVM; stop() leaves it running."""
    writer = script(
        """
from pyspark.sql import SparkSession
spark = SparkSession.builder.config("spark.sql.shuffle.partitions", "3").getOrCreate()
spark.createDataFrame([(1,), (2,), (3,)], "id int").write.saveAsTable("main.shared.ids")
print("partitions", spark.conf.get("spark.sql.shuffle.partitions"))
print("cluster", spark.conf.get("spark.databricks.clusterUsageTags.clusterId"))
spark.stop()
""",
        "writer.py",
    )
    reader = script(
        """
from pyspark.sql import SparkSession
spark = SparkSession.builder.getOrCreate()
print("rows", spark.table("main.shared.ids").count())
print("partitions", spark.conf.get("spark.sql.shuffle.partitions"))
""",
        "reader.py",
    )
    outputs = []
    for path in (writer, reader):
        task = jobs.SubmitTask.from_dict(
            {
                "task_key": "spark",
                "new_cluster": {"spark_version": "16.4.x-scala2.12", "num_workers": 0},
                "spark_python_task": {"python_file": path},
            }
        )
        run = w.jobs.submit(tasks=[task]).result()
        output = w.jobs.get_run_output(run.tasks[0].run_id)
        assert run.state.result_state == jobs.RunResultState.SUCCESS, output.error_trace
        outputs.append((run, output.logs.splitlines()))
    (first, written), (_, read) = outputs
    assert written == ["partitions 3", f"cluster {first.tasks[0].cluster_instance.cluster_id}"]
    # the table outlived the first run and its stop(); the conf stayed that session's own
    assert read == ["rows 3", "partitions 1"]
    assert local_databricks.shared_spark.started, "the shared Spark's helper did not run"


def run_spark_script(server, body: str) -> list[str]:
    """Run ``body`` as a one-task run on a job cluster of ``server``; return its output lines."""
    from ld_helpers import make_client, write_file

    path = write_file(server, "dbfs:/scripts/spark_script.py", body)
    task = jobs.SubmitTask.from_dict(
        {
            "task_key": "spark",
            "new_cluster": {"spark_version": "16.4.x-scala2.12", "num_workers": 0},
            "spark_python_task": {"python_file": path},
        }
    )
    w = make_client(server)
    run = w.jobs.submit(tasks=[task]).result()
    output = w.jobs.get_run_output(run.tasks[0].run_id)
    assert run.state.result_state == jobs.RunResultState.SUCCESS, output.error_trace
    return output.logs.splitlines()


def test_servers_of_a_session_share_one_spark_and_start_with_no_tables(tmp_path):
    """SharedSpark.standalone: a second server finds the JVM warm and the first one's tables
    gone; stopping a server leaves the JVM running."""

    from local_databricks import LocalDatabricks
    from local_databricks.shared_spark import SharedSpark

    body = """
from pyspark.sql import SparkSession
spark = SparkSession.builder.getOrCreate()
print("tables", sorted(t.name for t in spark.catalog.listTables("shared")) if
      spark.catalog.databaseExists("shared") else [])
spark.createDataFrame([(1,)], "id int").write.saveAsTable("main.shared.ids")
"""
    shared = SharedSpark.standalone(tmp_path / "session")
    seen = []
    try:
        for name in ("first", "second"):
            with LocalDatabricks(root=tmp_path / name, shared_spark=shared) as server:
                seen.append((run_spark_script(server, body), shared.ensure()["port"]))
            assert shared.started  # the server stopped; the JVM did not
    finally:
        shared.stop()
    (first, port), (second, same_port) = seen
    assert first == second == ["tables []"]
    assert port == same_port
    assert not shared.started


def test_local_spark_fixture_is_a_session_of_its_own_on_the_shared_spark(
    local_spark, local_databricks_spark
) -> None:
    from pyspark.sql import SparkSession

    assert SparkSession.builder.getOrCreate() is local_spark
    local_spark.sql("CREATE DATABASE IF NOT EXISTS unit")
    local_spark.createDataFrame([(1,), (2,)], "id int").write.saveAsTable("unit.ids")
    assert local_spark.table("unit.ids").count() == 2
    assert local_databricks_spark.started


def test_per_task_spark_mode(tmp_path, script):
    """spark_mode="per-task": every task starts a JVM of its own; tables do not outlive it."""
    from ld_helpers import make_client, write_file

    from local_databricks import LocalDatabricks

    with LocalDatabricks(root=tmp_path / "per-task", spark_mode="per-task") as server:
        w = make_client(server)
        path = write_file(
            server,
            "dbfs:/scripts/own.py",
            """
import os
from pyspark.sql import SparkSession
spark = SparkSession.builder.getOrCreate()
print("own", "PYSPARK_GATEWAY_PORT" not in os.environ, spark.range(2).count())
""",
        )
        task = jobs.SubmitTask.from_dict(
            {
                "task_key": "spark",
                "new_cluster": {"spark_version": "16.4.x-scala2.12", "num_workers": 0},
                "spark_python_task": {"python_file": path},
            }
        )
        run = w.jobs.submit(tasks=[task]).result()
        output = w.jobs.get_run_output(run.tasks[0].run_id)
        assert run.state.result_state == jobs.RunResultState.SUCCESS, output.error_trace
        assert output.logs.splitlines() == ["own True 2"]
        assert not (server.root / "spark" / "shared").exists()
    with pytest.raises(ValueError, match="spark_mode"):
        LocalDatabricks(spark_mode="jvm")


def test_other_processes_attach_to_a_published_spark(tmp_path):
    """AttachedSpark: a server of another process runs its tasks on the owner's Spark, and its
    stop drops their tables through the helper's control port; the JVM stays up."""

    from local_databricks import LocalDatabricks
    from local_databricks.shared_spark import AttachedSpark, SharedSpark

    owner = SharedSpark.standalone(tmp_path / "owner")
    state = tmp_path / "state.json"
    attached = AttachedSpark(state)
    assert not attached.started
    owner.publish(state)
    try:
        assert attached.started and attached.ensure() == owner.ensure()
        body = """
from pyspark.sql import SparkSession
spark = SparkSession.builder.getOrCreate()
spark.createDataFrame([(1,)], "id int").write.saveAsTable("main.attached.ids")
print(spark.catalog.databaseExists("attached"))
"""
        with LocalDatabricks(root=tmp_path / "server", shared_spark=attached) as server:
            assert run_spark_script(server, body) == ["True"]
        assert owner.started  # the attached server stopped, the owner's JVM did not
        attached.reset()  # nothing left to drop, and the helper still answers
    finally:
        owner.stop()


def test_warm_spark_starts_the_session_spark_for_every_worker(tmp_path):
    """warm_spark = true: the session's first process starts the Spark, and each pytest-xdist
    worker's tests attach to that one (its state file in LOCAL_DATABRICKS_SESSION_SPARK)."""
    import subprocess
    import sys

    (tmp_path / "pyproject.toml").write_text("[tool.local-databricks]\nwarm_spark = true\n")
    (tmp_path / "test_warm.py").write_text(
        """
import os
from local_databricks.shared_spark import AttachedSpark

def test_attached(local_databricks_spark, local_spark):
    assert isinstance(local_databricks_spark, AttachedSpark)
    assert os.environ["LOCAL_DATABRICKS_SESSION_SPARK"] == str(local_databricks_spark.state_file)
    local_spark.sql("CREATE DATABASE IF NOT EXISTS unit")
    local_spark.createDataFrame([(1,)], "id int").write.saveAsTable("unit.ids")
    assert local_spark.table("unit.ids").count() == 1

def test_tables_of_the_last_test_are_gone(local_spark):
    assert not local_spark.catalog.databaseExists("unit")
"""
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOCAL_DATABRICKS_")}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "1", "-q"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "2 passed" in run.stdout
