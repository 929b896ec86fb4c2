"""Maintained by the template; changes arrive with `copier update`.

The Pipes message readers the runner uses: dagster-databricks' own, with the prompt reading
loop of ``upstream_fixes.py`` (override 1).

Imported only when a run starts: ``dagster_databricks`` pulls in pyspark (about 3 s).
"""

from dagster_databricks.pipes import PipesDbfsMessageReader, PipesUnityCatalogVolumesMessageReader

from .upstream_fixes import PromptReadsMixin


class UnityCatalogVolumesMessageReader(PromptReadsMixin, PipesUnityCatalogVolumesMessageReader):
    """Reads Pipes messages from a Unity Catalog volume (``/Volumes/...``)."""


class DbfsMessageReader(PromptReadsMixin, PipesDbfsMessageReader):
    """Reads Pipes messages from DBFS."""
