"""local-databricks stand-in for the runtime's SDK credential provider (task processes only).

With ``DATABRICKS_RUNTIME_VERSION`` set, the SDK's ``runtime`` auth imports
``init_runtime_native_auth`` from here: the workspace URL and the process's own credential
(``LOCAL_DATABRICKS_API_URL`` / ``LOCAL_DATABRICKS_API_TOKEN``, valid while the task or the
execution context lives), as a Databricks driver hands out its context token.
"""

import os


def init_runtime_native_auth():
    """(host, headers factory), or (None, None) outside a local-databricks process."""
    host = os.environ.get("LOCAL_DATABRICKS_API_URL")
    if not host or not os.environ.get("LOCAL_DATABRICKS_API_TOKEN"):
        return None, None

    def inner():
        return {"Authorization": f"Bearer {os.environ.get('LOCAL_DATABRICKS_API_TOKEN', '')}"}

    return host, inner
