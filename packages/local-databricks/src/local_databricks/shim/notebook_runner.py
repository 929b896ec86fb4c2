"""Runs a Databricks source-format notebook as one script (local-databricks notebook_task).

argv: [notebook_runner.py, <local notebook file>, <notebook path as submitted>]. The `dbutils`
global is the shim's (local_databricks_dbutils.py): widgets from LOCAL_DATABRICKS_NOTEBOOK_PARAMS
(JSON), `dbutils.notebook.exit(value)` writes value to LOCAL_DATABRICKS_NOTEBOOK_EXIT_FILE and ends
the notebook successfully. Cells (`# COMMAND ----`) run in order in one namespace; `# MAGIC` lines
are comments, so %pip/%sql/%run cells are skipped. As on Databricks (DBR 13+), the notebook's
workspace folder is first on `sys.path`: a notebook imports the workspace files beside it.
"""

import os
import sys
import traceback

from local_databricks_dbutils import LazySpark, NotebookExit, shared


def main():
    """Execute the notebook; exit 0 on success or dbutils.notebook.exit, 1 on an exception."""
    local_file, notebook_path = sys.argv[1], sys.argv[2]
    with open(local_file, encoding="utf-8") as handle:
        source = handle.read()
    namespace = {
        "__name__": "__main__",
        "__file__": notebook_path,
        "dbutils": shared(),
        "spark": LazySpark(),
        "display": print,
        "displayHTML": print,
    }
    sys.argv = [notebook_path]
    sys.path.insert(0, os.path.dirname(os.path.abspath(local_file)))
    try:
        exec(compile(source, notebook_path, "exec"), namespace)
    except NotebookExit:
        return 0
    except SystemExit as exc:
        if exc.code in (None, 0):
            return 0
        raise
    except BaseException:
        traceback.print_exc()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
