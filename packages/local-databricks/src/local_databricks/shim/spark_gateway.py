"""The shared local Spark of a local-databricks server (started by shared_spark.py).

Starts a local SparkSession with the shim's defaults (LOCAL_DATABRICKS_SPARK_MODE=own, so the
shim's getOrCreate starts a real JVM here instead of attaching to one), runs one small job so the
JVM is warm, prints "<py4j gateway port> <secret>" and then lives until its stdin closes.
"""

import sys

from pyspark.sql import SparkSession


def main():
    """Start, warm up, publish the gateway, wait for the server to go away."""
    spark = SparkSession.builder.getOrCreate()
    # The first job of a JVM is slow (class loading, JIT): pay it here, not in a task.
    spark.createDataFrame([(1, "warm")], "id int, name string").count()
    params = spark.sparkContext._gateway.gateway_parameters
    print(f"{params.port} {params.auth_token}", flush=True)
    sys.stdin.read()
    return 0


if __name__ == "__main__":
    sys.exit(main())
