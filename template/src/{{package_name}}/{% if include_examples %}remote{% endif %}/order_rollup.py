"""Remote script of the ``order_rollups`` assets: one rollup of the sample orders per task.

Several tasks of one run (on one shared job cluster) run this script, each with its own
``--rollup <column>`` and ``--asset <key>``, and each reports its own asset's materialization.
Plain Python: no Spark needed.
"""

import argparse
import csv
from collections import defaultdict

from brickpipes_remote import open_pipes


def rollup(path: str, column: str) -> dict[str, float]:
    """Total order amount per value of ``column`` (rows without an order id are skipped)."""
    totals: dict[str, float] = defaultdict(float)
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["order_id"]:
                totals[row[column].strip().lower()] += float(row["amount"])
    return {key: round(value, 2) for key, value in sorted(totals.items())}


def main() -> None:
    """Compute this task's rollup and report it as its asset's materialization."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rollup", required=True)
    parser.add_argument("--asset", required=True)
    args, _ = parser.parse_known_args()  # the Pipes bootstrap arguments are not ours
    with open_pipes() as context:
        totals = rollup(context.get_extra("source_path"), args.rollup)
        context.log.info(f"{args.asset}: {len(totals)} groups")
        context.report_asset_materialization(
            asset_key=args.asset,
            metadata={
                "groups": len(totals),
                "largest": max(totals, key=totals.__getitem__),
                "totals": {"raw_value": totals, "type": "json"},
            },
        )


if __name__ == "__main__":
    main()
