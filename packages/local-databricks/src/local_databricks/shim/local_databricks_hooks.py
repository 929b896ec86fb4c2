"""The import hook of a task process (installed by sitecustomize.py).

A meta path finder that wraps the loader of a few modules so that a patch runs right after the
module executes (`pyspark.sql.session`, `pyspark.sql.readwriter`: local_databricks_spark.py;
`dagster_pipes`: local_databricks_pipes.py), and serves `pyspark.dbutils` from the shim's
pyspark_dbutils.py. Without pyspark/py4j, the shim's stub packages are appended to `sys.path`.
"""

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys

from local_databricks_pipes import patch_dagster_pipes
from local_databricks_spark import patch_readwriter_module, patch_session_module

_SHIM_DIR = os.path.dirname(os.path.abspath(__file__))

_PATCHES = {
    "pyspark.sql.session": patch_session_module,
    "pyspark.sql.readwriter": patch_readwriter_module,
    "dagster_pipes": patch_dagster_pipes,
}


class _PatchingFinder(importlib.abc.MetaPathFinder):
    """Patches selected modules right after they execute; serves `pyspark.dbutils`."""

    def find_spec(self, fullname, path, target=None):
        if fullname == "pyspark.dbutils":
            # Databricks Runtime ships pyspark.dbutils; open-source pyspark does not.
            return importlib.util.spec_from_file_location(
                fullname, os.path.join(_SHIM_DIR, "pyspark_dbutils.py")
            )
        patch = _PATCHES.get(fullname)
        if patch is None:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return None
        # A wrapper, not a patched loader: Spark's Python workers import pyspark from
        # pyspark.zip, whose one zipimporter loads every module of it.
        spec.loader = _PatchingLoader(spec.loader, fullname, patch)
        return spec


class _PatchingLoader(importlib.abc.Loader):
    """Runs ``loader``'s module, then ``patch`` on it; everything else is ``loader``'s."""

    def __init__(self, loader, fullname, patch):
        self._loader = loader
        self._fullname = fullname
        self._patch = patch

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        try:
            self._patch(module)
        except Exception as exc:
            print(f"local-databricks: could not patch {self._fullname}: {exc}", file=sys.stderr)

    def __getattr__(self, name):
        return getattr(self._loader, name)


def install():
    """Put the finder first on `sys.meta_path`; add the stubs when pyspark/py4j are missing."""
    sys.meta_path.insert(0, _PatchingFinder())
    # Without pyspark/py4j, stub packages (appended, so real ones always win) keep
    # PipesDbfsMessageWriter working against the fake session.
    stubs = os.path.join(_SHIM_DIR, "stubs")
    if os.path.isdir(stubs):
        for name in ("pyspark", "py4j"):
            if importlib.util.find_spec(name) is None:
                sys.path.append(stubs)
                break
