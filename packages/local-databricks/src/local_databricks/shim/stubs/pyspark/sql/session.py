"""Stub SparkSession (local-databricks): no active session; no local Spark without pyspark."""


class SparkSession:
    """Minimal SparkSession; the local-databricks shim wraps getActiveSession."""

    class Builder:
        """Builder that explains that pyspark is missing."""

        def config(self, *args, **kwargs):
            """Ignore configuration."""
            return self

        def master(self, *args, **kwargs):
            """Ignore the master URL."""
            return self

        def appName(self, *args, **kwargs):
            """Ignore the app name."""
            return self

        def getOrCreate(self):
            """Fail: a real Spark session needs pyspark."""
            raise RuntimeError(
                "local-databricks: pyspark is not installed in this interpreter, so no local "
                "SparkSession can be created. Install pyspark (and Java 17+)."
            )

    builder = Builder()

    @classmethod
    def getActiveSession(cls):
        """No real session is ever active."""
        return None
