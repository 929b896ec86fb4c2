"""`pyspark.dbutils` of a Databricks driver, mapped here by the local-databricks shim.

`from pyspark.dbutils import DBUtils; dbutils = DBUtils(spark)` gives the shim's dbutils.
"""

from local_databricks_dbutils import DBUtils

__all__ = ["DBUtils"]
