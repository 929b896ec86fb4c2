"""Works (sleeps) far longer than any test waits: only a cancel or a timeout ends it."""

import time

from brickpipes_remote import open_pipes

with open_pipes() as context:
    context.log.info("remote step started")
    time.sleep(120)
