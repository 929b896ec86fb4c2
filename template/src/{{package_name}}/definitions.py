"""Entry point of the code location: everything under ``defs/`` is loaded automatically."""

from pathlib import Path

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    """Load the assets, resources and schedules defined in the ``defs`` folder."""
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
