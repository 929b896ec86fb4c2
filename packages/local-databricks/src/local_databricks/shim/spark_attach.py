"""A SparkSession of its own on a running local Spark, reached through its py4j gateway.

Used by a task's ``getOrCreate()`` in shared mode (sitecustomize) and by the pytest plugin's
``local_spark`` fixture. The session has its own SQL conf and temporary views (``newSession()``);
tables and the JVM are shared. The JVM belongs to whoever started it: ``stop()`` only lets go.
"""

import os


def attach(port, secret):
    """A new session on the JVM whose gateway listens on ``port``; it becomes the active one."""
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    if os.environ.get("PYSPARK_GATEWAY_PORT") != str(port):
        # a gateway of an earlier JVM (this process attached before) is of no use any more
        SparkContext._gateway = None
        SparkContext._jvm = None
    os.environ["PYSPARK_GATEWAY_PORT"] = str(port)
    os.environ["PYSPARK_GATEWAY_SECRET"] = str(secret)
    SparkContext._ensure_initialized()
    jvm = SparkContext._jvm
    jsc = jvm.org.apache.spark.api.java.JavaSparkContext.fromSparkContext(
        jvm.org.apache.spark.SparkContext.getOrCreate()
    )
    context = SparkContext(gateway=SparkContext._gateway, jsc=jsc)
    jsession = jvm.org.apache.spark.sql.SparkSession.builder().getOrCreate().newSession()
    session = SparkSession(context, jsparkSession=jsession)

    def stop():
        # This process's accumulator server goes (else it reports an EOFError when the JVM
        # goes away later); the JVM and its tables stay.
        server, context._accumulatorServer = context._accumulatorServer, None
        if server is not None:
            server.shutdown()
        SparkSession._instantiatedSession = None
        SparkSession._activeSession = None
        SparkContext._active_spark_context = None

    session.stop = stop
    context.stop = stop
    return session
