"""Closes Pipes, then keeps working for 3 s (as a run may stay TERMINATING for a while)."""

import time

from brickpipes_remote import open_pipes

with open_pipes() as context:
    context.log.info("remote step started")
    context.report_asset_materialization()
time.sleep(3)
