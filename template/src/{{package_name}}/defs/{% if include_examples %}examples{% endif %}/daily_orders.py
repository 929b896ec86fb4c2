"""Example: a daily-partitioned asset; each run sends its partition key to Databricks.

The remote script (``remote/daily_orders.py``) rewrites only that day's folder, so a backfill
of several days is one Databricks run per day, each idempotent. A schedule materializes
yesterday's partition every morning.
"""

import dagster as dg
from brickpipes import DatabricksPipes

from .common import files_root

DAILY = dg.DailyPartitionsDefinition(start_date="2024-01-01")


@dg.asset(
    description=(
        "One day of orders per partition, as JSON lines under the environment's "
        "files root (daily_orders/order_date=<day>/); each run rewrites only its own day."
    ),
    group_name="examples",
    kinds={"databricks", "python"},
    partitions_def=DAILY,
)
def daily_orders(
    context: dg.AssetExecutionContext, databricks_pipes: DatabricksPipes
) -> dg.MaterializeResult:
    """Extract one day of orders on Databricks; the partition key travels in the Pipes context."""
    context.log.info(f"extracting orders of {context.partition_key}")
    root = f"{files_root(databricks_pipes)}/daily_orders"
    invocation = databricks_pipes.run(
        context, "daily_orders.py", extras={"root": root}, profile="small"
    )
    return invocation.get_materialize_result()


daily_orders_job = dg.define_asset_job("daily_orders_job", selection=[daily_orders])
# Every day at 03:00 (UTC), the partition of the day that just ended.
daily_orders_schedule = dg.build_schedule_from_partitioned_job(daily_orders_job, hour_of_day=3)
