"""Remote script of the ``sample_orders`` asset: runs on Databricks, reports through Pipes.

It runs unchanged on a job cluster, serverless or an all-purpose cluster (and on local
Databricks): the runner passes the Pipes bootstrap, transport included, as command-line
arguments everywhere, and uploads ``brickpipes_remote`` (whose ``open_pipes`` reads them) next
to this file. It needs only ``dagster-pipes`` (installed on the cluster by the runner), not Spark.
"""

from brickpipes_remote import open_pipes

REGIONS = ("north", "south", "east", "west")


def sample_orders(count: int) -> list[dict]:
    """Build ``count`` deterministic orders, so reruns and tests see the same data."""
    return [
        {"order_id": i, "region": REGIONS[i % len(REGIONS)], "amount": round(10 + (i * 7) % 90, 2)}
        for i in range(1, count + 1)
    ]


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
