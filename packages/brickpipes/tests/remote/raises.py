"""Fails with a remote error the step failure must quote."""

from brickpipes_remote import open_pipes

with open_pipes() as context:
    context.log.info("remote step started")
    raise ValueError("bad input: order 42 has no region")
