"""Example: a downstream asset that uses what its upstream reported, with no Databricks call.

It reads the latest materialization of the ``cleaned_orders`` table asset (row count, dropped
rows, Spark time) and turns it into a health summary; deps draw the table lineage in the UI.
"""

from typing import cast

import dagster as dg

from .cleaned_orders import CLEANED_ORDERS

MIN_ROWS = 10


@dg.asset(
    deps=[CLEANED_ORDERS],
    description=(
        "Health of the cleaned_orders table, from the metadata its last materialization "
        f"reported: enough rows (at least {MIN_ROWS}), rows dropped in cleaning, throughput."
    ),
    group_name="examples",
    kinds={"python"},
)
def orders_health(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """Summarise the upstream's latest metadata; fail if the table was never materialized."""
    event = context.instance.get_latest_materialization_event(CLEANED_ORDERS)
    if event is None or event.asset_materialization is None:
        never = f"{CLEANED_ORDERS.to_user_string()} has not been materialized yet."
        raise dg.Failure(description=never)
    upstream = event.asset_materialization.metadata
    # What the remote script reported (remote/cleaned_orders.py): numbers.
    rows = cast(int, upstream["dagster/row_count"].value)
    seconds = cast(float, upstream["spark_seconds"].value)
    return dg.MaterializeResult(
        metadata={
            "table": cast(str, upstream["dagster/table_name"].value),
            "rows": rows,
            "dropped_rows": cast(int, upstream["dropped_rows"].value),
            "enough_rows": rows >= MIN_ROWS,
            "rows_per_spark_second": round(rows / seconds, 1) if seconds else None,
            "upstream_run_id": dg.MetadataValue.dagster_run(event.run_id),
        }
    )
