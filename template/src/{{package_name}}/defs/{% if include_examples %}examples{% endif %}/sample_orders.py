"""Example: a Pipes asset whose work runs on Databricks (``remote/sample_orders.py``)."""

import dagster as dg

from ...databricks.pipes import DatabricksPipes


@dg.asset(
    group_name="examples",
    kinds={"databricks", "python"},
    check_specs=[dg.AssetCheckSpec("order_ids_unique", asset="sample_orders")],
)
def sample_orders(
    context: dg.AssetExecutionContext, pipes_databricks: DatabricksPipes
) -> dg.MaterializeResult:
    """Sample orders summarised on Databricks; row count and total come from the remote run."""
    invocation = pipes_databricks.run(
        context, "sample_orders.py", extras={"order_count": 100}, profile="small"
    )
    return invocation.get_materialize_result()
