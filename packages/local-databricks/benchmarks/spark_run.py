"""A Spark task through local-databricks: a JVM per task vs the server's shared local Spark.

    python benchmarks/spark_run.py [--repeat 3]

needs pyspark and Java 17+ in the interpreter that runs it (task processes use it too) and prints
one JSON line. The task is the shape of the template's Spark example (cleaned_orders.py): rows
from Python into a DataFrame, a cast and a de-duplication, `saveAsTable` of a Unity Catalog name,
then a count. Each figure is the run's own duration, from `runs/submit` until it was TERMINATED
(`end_time - start_time` of runs/get: the SDK's waiter polls with growing sleeps, which would add
seconds that are the client's), median of `repeat`:

- `per_task_s`: spark_mode="per-task", every run starts its own JVM;
- `shared_cold_s`: spark_mode="shared", the first run of a server (it starts the shared Spark);
- `shared_warm_s`: spark_mode="shared", a later run (the Spark is warm, as a cluster is).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

try:
    from local_databricks import LocalDatabricks
except ImportError:  # running from a checkout without the package installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from local_databricks import LocalDatabricks

SCRIPT = """
from pyspark.sql import SparkSession, functions as F
spark = SparkSession.builder.getOrCreate()
rows = [(str(i), f" customer {i % 7} ", str(i * 3.5)) for i in range(30)] + [("1", "dup", "1")]
raw = spark.createDataFrame(rows, "order_id string, customer string, amount string")
clean = (
    raw.select(F.col("order_id").cast("bigint").alias("order_id"), F.trim("customer").alias(
        "customer"), F.col("amount").cast("decimal(10,2)").alias("amount"))
    .dropDuplicates(["order_id"])
)
clean.write.mode("overwrite").saveAsTable("main.bench.orders")
print(spark.table("main.bench.orders").count())
"""


def _run_once(server: LocalDatabricks) -> float:
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.core import Config
    from databricks.sdk.service import jobs

    w = WorkspaceClient(
        config=Config(host=server.url, token=server.token, retry_timeout_seconds=10)
    )
    task = jobs.SubmitTask.from_dict(
        {
            "task_key": "spark",
            "new_cluster": {"spark_version": "16.4.x-scala2.12", "num_workers": 0},
            "spark_python_task": {"python_file": "dbfs:/bench/spark.py"},
        }
    )
    run = w.jobs.submit(tasks=[task]).result()
    seconds = (run.end_time - run.start_time) / 1000
    if run.state.result_state != jobs.RunResultState.SUCCESS:
        trace = w.jobs.get_run_output(run.tasks[0].run_id).error_trace
        raise SystemExit(f"the Spark task failed:\n{trace}")
    return seconds


def _server(root: Path, mode: str) -> LocalDatabricks:
    server = LocalDatabricks(root=root, spark_mode=mode).start()
    script = server.root / "dbfs" / "bench" / "spark.py"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(SCRIPT)
    return server


def measure(repeat: int = 3) -> dict[str, float]:
    """per_task_s, shared_cold_s and shared_warm_s (medians of `repeat` runs each)."""
    samples: dict[str, list[float]] = {"per_task_s": [], "shared_cold_s": [], "shared_warm_s": []}
    with tempfile.TemporaryDirectory(prefix="ld-spark-bench-") as tmp:
        per_task = _server(Path(tmp) / "per-task", "per-task")
        try:
            for _ in range(repeat):
                samples["per_task_s"].append(_run_once(per_task))
        finally:
            per_task.stop()
        for index in range(repeat):
            shared = _server(Path(tmp) / f"shared-{index}", "shared")
            try:
                samples["shared_cold_s"].append(_run_once(shared))
                samples["shared_warm_s"].append(_run_once(shared))
            finally:
                shared.stop()
    return {name: round(statistics.median(values), 2) for name, values in samples.items()}


def main() -> None:
    """Print `measure()` as one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps(measure(args.repeat)))


if __name__ == "__main__":
    main()
