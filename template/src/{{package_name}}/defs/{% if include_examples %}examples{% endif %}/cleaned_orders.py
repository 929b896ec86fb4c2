"""Example: PySpark on an ephemeral job cluster builds a Unity Catalog table from shipped data.

The remote script (``remote/cleaned_orders.py``) reads ``data/orders.csv``, cleans it with
PySpark, overwrites the ``cleaned_orders`` table and reports row count, schema, a preview, Spark
timing and the ``order_id_not_null`` check back through Pipes.
"""

import dagster as dg
from brickpipes import DatabricksPipes

from .common import table_key, table_name, upload_dataset

CLEANED_ORDERS = table_key("cleaned_orders")


@dg.asset(
    key=CLEANED_ORDERS,
    description=(
        "The sample orders cleaned: the Unity Catalog table cleaned_orders of the run's "
        "environment, written by PySpark on Databricks from the project's data/orders.csv."
    ),
    group_name="examples",
    kinds={"databricks", "pyspark", "table"},
    check_specs=[
        dg.AssetCheckSpec(
            "order_id_not_null", asset=CLEANED_ORDERS, description="Every row has an order id."
        )
    ],
)
def cleaned_orders(
    context: dg.AssetExecutionContext, databricks_pipes: DatabricksPipes
) -> dg.MaterializeResult:
    """Build the table on Databricks; metadata and the check come from the remote run."""
    extras = {
        "source_path": upload_dataset(databricks_pipes),
        "table": table_name(databricks_pipes, "cleaned_orders"),
    }
    invocation = databricks_pipes.run(context, "cleaned_orders.py", extras=extras, profile="small")
    return invocation.get_materialize_result()
