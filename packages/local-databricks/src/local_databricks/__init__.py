"""local-databricks: an offline stand-in for the Databricks REST API.

`LocalDatabricks` serves jobs, DBFS, Unity Catalog volume files, workspace, clusters, secrets
and auth endpoints on 127.0.0.1 and runs tasks as local subprocesses.
"""

from .api import LocalDatabricks

__all__ = ["LocalDatabricks"]
__version__ = "0.5.0"
