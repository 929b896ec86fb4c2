"""One task of a run of several: reports its own asset (``--asset``), or fails (``--fail``)."""

import argparse

from brickpipes_remote import open_pipes

parser = argparse.ArgumentParser()
parser.add_argument("--asset", required=True)
parser.add_argument("--fail", action="store_true")
args, _ = parser.parse_known_args()  # the Pipes bootstrap arguments are not ours
with open_pipes() as context:
    if args.fail:
        raise KeyError(f"no column for {args.asset}")
    context.report_asset_materialization(asset_key=args.asset, metadata={"task": args.asset})
