"""Stub pyspark.sql (local-databricks): only SparkSession."""

from .session import SparkSession

__all__ = ["SparkSession"]
