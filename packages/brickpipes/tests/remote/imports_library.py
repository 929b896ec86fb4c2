"""Imports the library its run declared (tests/test_libraries.py builds it) and reports it."""

import ldlibdemo  # type: ignore[import-not-found]  # installed for this run only

from brickpipes_remote import open_pipes

with open_pipes() as context:
    context.report_asset_materialization(metadata={"value": ldlibdemo.VALUE})
