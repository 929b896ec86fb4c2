"""The one test that starts a real local Spark (needs Java 17+)."""

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
