"""Runs a Databricks source-format notebook as one script (local-databricks notebook_task).

argv: [notebook_runner.py, <local notebook file>, <notebook path as submitted>]. Widgets come from
LOCAL_DATABRICKS_NOTEBOOK_PARAMS (JSON); `dbutils.notebook.exit(value)` writes value to
LOCAL_DATABRICKS_NOTEBOOK_EXIT_FILE and ends the notebook successfully. Cells (`# COMMAND ----`)
run in order in one namespace; `# MAGIC` lines are comments, so %pip/%sql/%run cells are skipped.
"""

import json
import os
import shutil
import sys
import traceback


class InputWidgetNotDefined(Exception):
    """Raised by dbutils.widgets.get for a widget that has no value (as on Databricks)."""


class _NotebookExit(BaseException):
    pass


class Widgets:
    """dbutils.widgets backed by the task's base_parameters."""

    def __init__(self, values):
        self._values = {str(k): str(v) for k, v in values.items()}

    def get(self, name):
        """The widget's value; raises InputWidgetNotDefined when it has none."""
        if name not in self._values:
            raise InputWidgetNotDefined(f"No input widget named {name} is defined")
        return self._values[name]

    def getArgument(self, name, defaultValue=None):
        """The widget's value or `defaultValue` (deprecated Databricks API)."""
        return self._values.get(name, defaultValue)

    def getAll(self):
        """All widget values."""
        return dict(self._values)

    def _define(self, name, defaultValue):
        self._values.setdefault(str(name), "" if defaultValue is None else str(defaultValue))

    def text(self, name, defaultValue="", label=None):
        """Define a text widget (base_parameters win over the default)."""
        self._define(name, defaultValue)

    def dropdown(self, name, defaultValue, choices, label=None):
        """Define a dropdown widget."""
        self._define(name, defaultValue)

    def combobox(self, name, defaultValue, choices, label=None):
        """Define a combobox widget."""
        self._define(name, defaultValue)

    def multiselect(self, name, defaultValue, choices, label=None):
        """Define a multiselect widget."""
        self._define(name, defaultValue)

    def remove(self, name):
        """Remove a widget."""
        self._values.pop(name, None)

    def removeAll(self):
        """Remove every widget."""
        self._values.clear()


class NotebookUtils:
    """dbutils.notebook: exit() only."""

    def __init__(self, exit_file):
        self._exit_file = exit_file

    def exit(self, value):
        """End the notebook successfully with `value` as notebook_output.result."""
        if self._exit_file:
            with open(self._exit_file, "w", encoding="utf-8") as handle:
                handle.write("" if value is None else str(value))
        raise _NotebookExit()

    def run(self, path, timeout_seconds=0, arguments=None):
        """Not emulated."""
        raise NotImplementedError("dbutils.notebook.run is not supported by local-databricks.")


def _fuse(path):
    return "/dbfs" + path[5:] if path.startswith("dbfs:") else path


class FsUtils:
    """dbutils.fs on top of the /dbfs and /Volumes FUSE mapping."""

    def ls(self, path):
        """List a directory (names end with / for directories)."""
        local = _fuse(path)
        return [
            (name + "/" if os.path.isdir(os.path.join(local, name)) else name)
            for name in sorted(os.listdir(local))
        ]

    def head(self, file, maxBytes=65536):
        """First bytes of a file as text."""
        with open(_fuse(file), encoding="utf-8", errors="replace") as handle:
            return handle.read(maxBytes)

    def put(self, file, contents, overwrite=False):
        """Write text to a file."""
        local = _fuse(file)
        if os.path.exists(local) and not overwrite:
            raise FileExistsError(file)
        os.makedirs(os.path.dirname(local), exist_ok=True)
        with open(local, "w", encoding="utf-8") as handle:
            handle.write(contents)
        return True

    def mkdirs(self, dir):
        """mkdir -p."""
        os.makedirs(_fuse(dir), exist_ok=True)
        return True

    def rm(self, dir, recurse=False):
        """Remove a file or directory."""
        local = _fuse(dir)
        if os.path.isdir(local):
            if recurse:
                shutil.rmtree(local)
            else:
                os.rmdir(local)
        elif os.path.exists(local):
            os.remove(local)
        else:
            return False
        return True

    def cp(self, from_, to, recurse=False):
        """Copy a file or directory."""
        source, target = _fuse(from_), _fuse(to)
        if os.path.isdir(source):
            shutil.copytree(source, target, dirs_exist_ok=True)
        else:
            os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
            shutil.copyfile(source, target)
        return True


class DBUtils:
    """The subset of dbutils a notebook task gets locally."""

    def __init__(self, params, exit_file):
        self.widgets = Widgets(params)
        self.notebook = NotebookUtils(exit_file)
        self.fs = FsUtils()


class _LazySpark:
    """`spark` global: a local SparkSession created on first attribute access."""

    def __init__(self):
        self._session = None

    def __getattr__(self, name):
        if self._session is None:
            from pyspark.sql import SparkSession

            self._session = SparkSession.builder.getOrCreate()
        return getattr(self._session, name)


def main():
    """Execute the notebook; exit 0 on success or dbutils.notebook.exit, 1 on an exception."""
    local_file, notebook_path = sys.argv[1], sys.argv[2]
    params = json.loads(os.environ.get("LOCAL_DATABRICKS_NOTEBOOK_PARAMS") or "{}")
    exit_file = os.environ.get("LOCAL_DATABRICKS_NOTEBOOK_EXIT_FILE")
    with open(local_file, encoding="utf-8") as handle:
        source = handle.read()
    dbutils = DBUtils(params, exit_file)
    namespace = {
        "__name__": "__main__",
        "__file__": notebook_path,
        "dbutils": dbutils,
        "spark": _LazySpark(),
        "display": print,
        "displayHTML": print,
    }
    sys.argv = [notebook_path]
    try:
        exec(compile(source, notebook_path, "exec"), namespace)
    except _NotebookExit:
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
