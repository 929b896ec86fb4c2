"""Example: a downstream asset that uses what its upstream reported, with no Databricks call.

It reads the latest materialization of the ``orders`` table asset (row count, dropped rows,
Spark time) and turns it into a health summary; deps draw the table lineage in the UI.
"""

import dagster as dg

from .orders_table import ORDERS

MIN_ROWS = 10


@dg.asset(
    deps=[ORDERS],
    description=(
        "Health of the orders table, from the metadata its last materialization reported: "
        f"enough rows (at least {MIN_ROWS}), rows dropped in cleaning, throughput."
    ),
    group_name="examples",
    kinds={"python"},
)
def orders_health(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """Summarise the upstream's latest metadata; fail if the table was never materialized."""
    event = context.instance.get_latest_materialization_event(ORDERS)
    if event is None or event.asset_materialization is None:
        raise dg.Failure(description=f"{ORDERS.to_user_string()} has not been materialized yet.")
    upstream = event.asset_materialization.metadata
    rows = upstream["dagster/row_count"].value
    seconds = upstream["spark_seconds"].value
    return dg.MaterializeResult(
        metadata={
            "table": upstream["dagster/table_name"].value,
            "rows": rows,
            "dropped_rows": upstream["dropped_rows"].value,
            "enough_rows": rows >= MIN_ROWS,
            "rows_per_spark_second": round(rows / seconds, 1) if seconds else None,
            "upstream_run_id": dg.MetadataValue.dagster_run(event.run_id),
        }
    )
