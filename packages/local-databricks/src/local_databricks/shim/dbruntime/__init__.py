"""local-databricks stand-in for the Databricks Runtime's `dbruntime` package (task processes only).

`databricks.sdk.runtime` and `WorkspaceClient().dbutils` look for
`dbruntime.UserNamespaceInitializer` to tell a driver from a laptop; with this package, a task
process gets the shim's dbutils (local_databricks_dbutils.py), as a driver gets the runtime's.
"""


class _LazySpark:
    """`spark`: a local SparkSession created on first attribute access (no JVM until then)."""

    def __init__(self):
        self._session = None

    def __getattr__(self, name):
        if self._session is None:
            from pyspark.sql import SparkSession

            self._session = SparkSession.builder.getOrCreate()
        return getattr(self._session, name)


class UserNamespaceInitializer:
    """The notebook user namespace a Databricks driver injects (dbutils, spark, display, ...)."""

    _instance = None

    def __init__(self):
        from local_databricks_dbutils import shared

        dbutils = shared()
        self._globals = {
            "dbutils": dbutils,
            "spark": _LazySpark(),
            "display": print,
            "displayHTML": print,
            "getArgument": dbutils.widgets.getArgument,
        }

    @classmethod
    def getOrCreate(cls):
        """The process-wide initializer."""
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance

    def get_namespace_globals(self):
        """The injected names and their objects."""
        return dict(self._globals)
