"""local-databricks stand-in for the Databricks Runtime's `dbruntime` package (task processes only).

`databricks.sdk.runtime` and `WorkspaceClient().dbutils` look for
`dbruntime.UserNamespaceInitializer` to tell a driver from a laptop; with this package, a task
process gets the shim's dbutils (local_databricks_dbutils.py), as a driver gets the runtime's.
"""


class UserNamespaceInitializer:
    """The notebook user namespace a Databricks driver injects (dbutils, spark, display, ...)."""

    _instance = None

    def __init__(self):
        from local_databricks_dbutils import LazySpark, shared

        dbutils = shared()
        self._globals = {
            "dbutils": dbutils,
            "spark": LazySpark(),
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
