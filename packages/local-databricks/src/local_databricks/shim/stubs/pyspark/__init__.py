"""Stub pyspark used by local-databricks when the interpreter has no pyspark installed."""
