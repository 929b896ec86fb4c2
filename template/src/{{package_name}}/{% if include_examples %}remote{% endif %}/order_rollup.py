"""Remote script of the ``order_rollups`` assets: one rollup of the sample orders per task.

Several tasks of one run (on one shared job cluster) run this script, each with its own
``--rollup <column>`` and ``--asset <key>``, and each reports its own asset's materialization.
Plain Python: no Spark needed.
"""

import argparse
import csv
from collections import defaultdict

import dagster_pipes as dp

# dagster-pipes' (context loader, message writer) of each transport the runner may choose.
VOLUMES = dp.PipesUnityCatalogVolumesContextLoader(), dp.PipesUnityCatalogVolumesMessageWriter()
DBFS = dp.PipesDbfsContextLoader(), dp.PipesDbfsMessageWriter()


def open_pipes(params: dp.PipesParamsLoader) -> dp.PipesContext:
    """Open Pipes on the runner's transport: Unity Catalog volume paths start with /Volumes/."""
    io = VOLUMES if params.load_context_params()["path"].startswith("/Volumes/") else DBFS
    return dp.open_dagster_pipes(params_loader=params, context_loader=io[0], message_writer=io[1])


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
    with open_pipes(dp.PipesCliArgsParamsLoader()) as context:
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
