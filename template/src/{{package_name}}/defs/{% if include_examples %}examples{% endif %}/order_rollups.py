"""Example: several Databricks assets that run together on one shared job cluster.

Materialized together, the selected rollups run as one Databricks run whose tasks share a job
cluster, so the cluster starts once; each task reports its own asset (materialization,
metadata, failure). Selected alone, a rollup runs alone.
"""

from collections.abc import Iterator

import dagster as dg
from brickpipes import DatabricksPipes, DatabricksRunFailed, RemoteTask

from .common import upload_dataset

# asset key -> the column it rolls up
ROLLUPS = {
    "orders_by_region": "region",
    "orders_by_customer": "customer_id",
    "orders_by_day": "order_date",
}


@dg.multi_asset(
    specs=[
        dg.AssetSpec(key, description=f"Order totals per {column}, rolled up on Databricks.")
        for key, column in ROLLUPS.items()
    ],
    can_subset=True,
    group_name="examples",
)
def order_rollups(
    context: dg.AssetExecutionContext, databricks_pipes: DatabricksPipes
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    """Run one task per selected rollup, all in one run on one cluster."""
    selected = [key.to_user_string() for key in context.selected_asset_keys]
    tasks = {
        key: RemoteTask("order_rollup.py", ["--rollup", ROLLUPS[key], "--asset", key])
        for key in selected
    }
    extras = {"source_path": upload_dataset(databricks_pipes)}
    try:
        invocation = databricks_pipes.run_together(context, tasks, extras=extras)
    except DatabricksRunFailed as failure:
        yield from failure.results  # the rollups that succeeded are still recorded
        raise
    yield from invocation.get_results()
