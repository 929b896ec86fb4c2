"""local-databricks shim, loaded by every task process through PYTHONPATH.

It makes a local process look like a Databricks driver without any import of local_databricks:

* FUSE paths: `/dbfs`, `/Volumes` and `/Workspace` are mapped to the emulator's storage by wrapping
  `open` and the `os` functions that `os.path`, `pathlib`, `shutil` and `tempfile` use.
* Spark: `SparkSession.getActiveSession()` returns a fake session carrying the Databricks
  `spark.databricks.clusterUsageTags.*` conf when no real session is active, and
  `SparkSession.builder.getOrCreate()` gives a real local Spark (`local[1]`) under the
  emulator root: a session on the server's shared Spark (LOCAL_DATABRICKS_SPARK_MODE=shared),
  or a JVM of the task's own.
* dagster-pipes: the blob store message writers' upload loop notices the session's end within
  50 ms instead of up to 2 s (`local_databricks_pipes.patch_dagster_pipes`).
* dbutils: a lazy `dbutils` builtin, and `pyspark.dbutils` (`DBUtils(spark)`) mapped to the
  shim's local_databricks_dbutils.py (see that module).
* An existing `sitecustomize` of the interpreter is still executed (chained).

Modules: local_databricks_fuse.py (FUSE paths), local_databricks_hooks.py (the import hook that
patches modules as they load), local_databricks_spark.py (the Spark patches),
local_databricks_pipes.py (the dagster-pipes patch); this module installs them.
"""

import builtins
import importlib.machinery
import importlib.util
import os
import sys

import local_databricks_fuse
import local_databricks_hooks

_SHIM_DIR = os.path.dirname(os.path.abspath(__file__))


class _LazyDbutils:
    """The `dbutils` builtin: the shim's dbutils, imported on first attribute access."""

    def __getattr__(self, name):
        from local_databricks_dbutils import shared

        return getattr(shared(), name)

    def __repr__(self):
        return "<dbutils (local-databricks)>"


def _install_dbutils():
    if not hasattr(builtins, "dbutils"):
        builtins.dbutils = _LazyDbutils()


def _chain_existing_sitecustomize():
    search = [p for p in sys.path if os.path.abspath(p or ".") != _SHIM_DIR]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", search)
    if spec is None or spec.loader is None or not spec.origin:
        return
    if os.path.dirname(os.path.abspath(spec.origin)) == _SHIM_DIR:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["_local_databricks_chained_sitecustomize"] = module
    spec.loader.exec_module(module)


local_databricks_fuse.install()
local_databricks_hooks.install()
_install_dbutils()
_chain_existing_sitecustomize()
