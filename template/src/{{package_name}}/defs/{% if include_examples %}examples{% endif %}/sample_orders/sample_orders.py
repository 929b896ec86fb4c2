"""Remote script of the ``sample_orders`` asset: runs on Databricks, reports through Pipes.

It runs unchanged on a job cluster, serverless or an all-purpose cluster (and on local
Databricks): the Pipes bootstrap arrives as environment variables on a new cluster and as
command-line arguments elsewhere, and the transport is a Unity Catalog volume or DBFS, so
``open_pipes`` picks both from what the runner sent. It needs only ``dagster-pipes``
(installed on the cluster by the runner), not Spark.
"""

import sys

import dagster_pipes as pipes

REGIONS = ("north", "south", "east", "west")


def sample_orders(count: int) -> list[dict]:
    """Build ``count`` deterministic orders, so reruns and tests see the same data."""
    return [
        {"order_id": i, "region": REGIONS[i % len(REGIONS)], "amount": round(10 + (i * 7) % 90, 2)}
        for i in range(1, count + 1)
    ]


def open_pipes() -> pipes.PipesContext:
    """Open Pipes with the bootstrap and transport the runner chose."""
    cli = "--dagster-pipes-context" in sys.argv
    params = pipes.PipesCliArgsParamsLoader() if cli else pipes.PipesEnvVarParamsLoader()
    volumes = str(params.load_context_params().get("path", "")).startswith("/Volumes/")
    return pipes.open_dagster_pipes(
        context_loader=pipes.PipesUnityCatalogVolumesContextLoader()
        if volumes
        else pipes.PipesDbfsContextLoader(),
        message_writer=pipes.PipesUnityCatalogVolumesMessageWriter()
        if volumes
        else pipes.PipesDbfsMessageWriter(),
        params_loader=params,
    )


def main() -> None:
    """Summarise the orders and report the summary as the asset's materialization."""
    with open_pipes() as context:
        orders = sample_orders(int(context.get_extra("order_count")))
        context.log.info(f"summarising {len(orders)} orders")
        total = sum(order["amount"] for order in orders)
        ids = [order["order_id"] for order in orders]
        context.report_asset_check(
            check_name="order_ids_unique",
            passed=len(ids) == len(set(ids)),
            metadata={"duplicates": len(ids) - len(set(ids))},
        )
        context.report_asset_materialization(
            metadata={
                "row_count": len(orders),
                "total_amount": round(total, 2),
                "regions": {"raw_value": sorted({o["region"] for o in orders}), "type": "json"},
            }
        )


if __name__ == "__main__":
    main()
