"""How a Databricks run is named and tagged after the Dagster step that started it, and the
idempotency token that makes a resubmitted attempt reuse its run instead of starting another.
"""

from __future__ import annotations

import hashlib

import dagster as dg

Context = dg.AssetExecutionContext | dg.OpExecutionContext


def step_label(context: Context) -> str:
    """The step's assets (``a,b``), or its op's name when it has no assets."""
    if context.has_assets_def:
        return ",".join(key.to_user_string() for key in context.selected_asset_keys)
    return (
        context.op_execution_context.op.name
        if isinstance(context, dg.AssetExecutionContext)
        else context.op.name
    )


def run_name(context: Context, code_location: str) -> str:
    """Name the Databricks run after the code location, the asset(s) and the Dagster run."""
    return f"{code_location}: {step_label(context)} (dagster run {context.run.run_id[:8]})"[:4096]


def cost_tags(context: Context, code_location: str) -> dict[str, str]:
    """Tags that attribute the run's cost to the code location, step and Dagster run.

    A submitted task has no tags of its own, so these travel as cluster ``custom_tags``
    (Databricks copies them to the cloud resources) and as job tags.
    """
    return {
        "dagster_code_location": code_location,
        "dagster_step": step_label(context)[:256],
        "dagster_run_id": context.run.run_id,
    }


def idempotency_token(context: Context) -> str:
    """One token per run, step and attempt: a resubmitted attempt reuses the same remote run."""
    op_context = (
        context.op_execution_context if isinstance(context, dg.AssetExecutionContext) else context
    )
    step = op_context.get_step_execution_context().step.key
    key = f"{context.run.run_id}:{step}:{op_context.retry_number}"
    return hashlib.sha256(key.encode()).hexdigest()
