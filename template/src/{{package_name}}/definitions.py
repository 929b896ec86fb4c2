"""Entry point of the code location: everything under ``defs/`` is loaded automatically."""

import warnings
from pathlib import Path

import dagster as dg

from . import defs as defs_package

PROJECT_ROOT = Path(__file__).parents[2]


@dg.definitions
def defs() -> dg.Definitions:
    """Load the assets, resources and schedules defined in the ``defs`` folder.

    ``dg.load_from_defs_folder`` would also read pyproject.toml (tomlkit) and build the catalog
    of every installed component type (JSON schemas of Dagster's and dagster-spark's, used by the
    UI's "add a component" form): that doubled the load time of every code server, run worker and
    ``dg`` command. This builds the same tree from the ``defs`` folder only; components are added
    with ``dg scaffold defs`` (``dg list components`` reads the catalog itself).
    """
    tree = dg.ComponentTree.from_module(defs_module=defs_package, project_root=PROJECT_ROOT)
    with warnings.catch_warnings():
        # Dagster's component loader calls its own preview and beta APIs (module loaders, code
        # references); load_from_defs_folder silences those the same way.
        for category in (dg.PreviewWarning, dg.BetaWarning):
            warnings.filterwarnings("ignore", category=category, module=r"dagster\.")
        folder = tree.build_defs(Path(defs_package.__file__).parent)
    return dg.Definitions.merge(folder, dg.Definitions(component_tree=tree))
