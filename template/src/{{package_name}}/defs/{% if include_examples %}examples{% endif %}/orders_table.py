"""Example: PySpark on an ephemeral job cluster builds a Unity Catalog table from shipped data.

The remote script (``remote/orders_table.py``) reads ``data/orders.csv``, cleans it with
PySpark, overwrites the table and reports row count, schema, a preview, Spark timing and the
``order_id_not_null`` check back through Pipes.
"""

import dagster as dg

from ...databricks.pipes import DatabricksPipes
from .common import table_key, table_name, upload_dataset

ORDERS = table_key("orders")


@dg.asset(
    key=ORDERS,
    description=(
        f"Cleaned sample orders: the Unity Catalog table `{table_name('orders')}`, written by "
        "PySpark on Databricks from the project's data/orders.csv."
    ),
    group_name="examples",
    kinds={"databricks", "pyspark", "table"},
    metadata={"dagster/table_name": table_name("orders")},
    check_specs=[
        dg.AssetCheckSpec(
            "order_id_not_null", asset=ORDERS, description="Every row has an order id."
        )
    ],
)
def orders(
    context: dg.AssetExecutionContext, pipes_databricks: DatabricksPipes
) -> dg.MaterializeResult:
    """Build the orders table on Databricks; metadata and the check come from the remote run."""
    invocation = pipes_databricks.run(
        context,
        "orders_table.py",
        extras={"source_path": upload_dataset(pipes_databricks), "table": table_name("orders")},
        profile="small",
    )
    return invocation.get_materialize_result()
