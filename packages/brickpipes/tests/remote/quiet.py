"""Reports its asset's materialization and ends."""

from brickpipes_remote import open_pipes

with open_pipes() as context:
    context.log.info("remote step started")
    context.report_asset_materialization(metadata={"rows": 3})
