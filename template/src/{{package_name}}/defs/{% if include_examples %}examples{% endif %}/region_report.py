"""Example: a Databricks notebook run as an asset through Pipes (a ``notebook_task``).

The notebook (``remote/notebooks/region_report.py``, Databricks source format) gets the Pipes
bootstrap as widgets (the task's base parameters) on every compute.
"""

import dagster as dg
from brickpipes import DatabricksPipes

from .common import upload_dataset


@dg.asset(
    description="Order totals per region, computed by the region_report notebook on Databricks.",
    group_name="examples",
    kinds={"databricks", "notebook"},
)
def region_report(
    context: dg.AssetExecutionContext, databricks_pipes: DatabricksPipes
) -> dg.MaterializeResult:
    """Run the notebook; its widgets carry Pipes, its metadata becomes the materialization."""
    invocation = databricks_pipes.run_notebook(
        context,
        "notebooks/region_report.py",
        extras={"source_path": upload_dataset(databricks_pipes)},
    )
    return invocation.get_materialize_result()
