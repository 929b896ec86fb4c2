"""Stub py4j used by local-databricks when the interpreter has no py4j installed."""
