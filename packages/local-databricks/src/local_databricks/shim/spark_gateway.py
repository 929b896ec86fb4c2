"""The shared local Spark of a local-databricks server (started by shared_spark.py).

Starts a local SparkSession with the shim's defaults (LOCAL_DATABRICKS_SPARK_MODE=own, so the
shim's getOrCreate starts a real JVM here instead of attaching to one), runs one small job so the
JVM is warm, prints "<py4j gateway port> <secret> <control port> <control secret>" and then lives
until its stdin closes. A line "<control secret> reset" on a connection to the control port (from
the owner or another process of its test session) drops every table and database but
``default`` and is answered "reset".
"""

import secrets
import socket
import sys
import threading

from pyspark.sql import SparkSession


def reset(spark):
    """Back to an empty catalog: the tables of earlier tasks (or tests) are gone."""
    for database in spark.catalog.listDatabases():
        if database.name != "default":
            spark.sql(f"DROP DATABASE IF EXISTS `{database.name}` CASCADE")
    for table in spark.catalog.listTables("default"):
        if not table.isTemporary:
            spark.sql(f"DROP TABLE IF EXISTS default.`{table.name}`")
    spark.catalog.clearCache()


def serve_control(spark):
    """Answer "<secret> reset" lines on a loopback port, one at a time; return (port, secret)."""
    lock = threading.Lock()
    secret = secrets.token_hex(16)
    server = socket.create_server(("127.0.0.1", 0))

    def answer(connection):
        with connection:
            connection.settimeout(60)
            words = connection.makefile("rb").readline().decode(errors="replace").split()
            if words == [secret, "reset"]:
                with lock:
                    reset(spark)
                connection.sendall(b"reset\n")

    def loop():
        while True:
            connection, _ = server.accept()
            threading.Thread(target=answer, args=(connection,), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()
    return server.getsockname()[1], secret


def main():
    """Start, warm up, publish the gateway, wait for the server to go away."""
    spark = SparkSession.builder.getOrCreate()
    # The first jobs of a JVM are slow (class loading, JIT, code generation): pay them here, on
    # the path a typical task takes (rows from Python, casts, a de-duplication, a table written
    # and read back), not in the first task.
    rows = spark.createDataFrame(
        [("1", " a ", "1.5"), ("1", "b", "2")], "id string, n string, x string"
    )
    clean = rows.selectExpr("cast(id as bigint) id", "trim(n) n", "cast(x as decimal(10,2)) x")
    spark.sql("CREATE DATABASE IF NOT EXISTS local_databricks_warmup")
    table = "local_databricks_warmup.rows"
    clean.dropDuplicates(["id"]).write.mode("overwrite").saveAsTable(table)
    spark.table(table).groupBy("id").count().collect()
    spark.sql("DROP DATABASE local_databricks_warmup CASCADE")
    params = spark.sparkContext._gateway.gateway_parameters
    control_port, control_secret = serve_control(spark)
    print(f"{params.port} {params.auth_token} {control_port} {control_secret}", flush=True)
    sys.stdin.read()
    return 0


if __name__ == "__main__":
    sys.exit(main())
