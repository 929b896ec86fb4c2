"""Remote script of the ``daily_orders`` asset: extracts one day of orders, rewrites that day.

The day is the partition key, read from the Pipes context; only ``order_date=<day>/`` under
the root is replaced, so reruns and backfills are idempotent. Plain Python: no Spark needed.
"""

import json
import os
import random

from brickpipes_remote import open_pipes

REGIONS = ("north", "south", "east", "west")


def extract_orders(day: str) -> list[dict]:
    """Stand-in for the source system: the same orders for the same day, every time."""
    rng = random.Random(day)
    return [
        {
            "order_id": f"{day.replace('-', '')}-{n:03d}",
            "order_date": day,
            "region": rng.choice(REGIONS),
            "amount": round(rng.uniform(5, 200), 2),
        }
        for n in range(1, rng.randint(5, 15) + 1)
    ]


def write_partition(root: str, day: str, orders: list[dict]) -> str:
    """Replace the day's file atomically (write, then rename); return its path."""
    folder = f"{root}/order_date={day}"
    os.makedirs(folder, exist_ok=True)
    path = f"{folder}/orders.jsonl"
    with open(f"{path}.tmp", "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(order) + "\n" for order in orders)
    os.replace(f"{path}.tmp", path)
    return path


def main() -> None:
    """Write the partition and report partition-aware metadata."""
    # The runner passes the Pipes bootstrap as command-line arguments, on every compute.
    with open_pipes() as context:
        day = context.partition_key
        orders = extract_orders(day)
        path = write_partition(context.get_extra("root"), day, orders)
        context.log.info(f"wrote {len(orders)} orders of {day} to {path}")
        context.report_asset_materialization(
            metadata={
                "partition_date": day,
                "dagster/row_count": len(orders),
                "total_amount": round(sum(order["amount"] for order in orders), 2),
                "path": {"raw_value": path, "type": "path"},
            }
        )


if __name__ == "__main__":
    main()
