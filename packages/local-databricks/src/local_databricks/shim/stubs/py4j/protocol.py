"""Stub py4j.protocol (local-databricks)."""


class Py4JJavaError(Exception):
    """Never raised: there is no JVM behind the stub."""
