"""dbutils for local-databricks task processes (loaded from the shim, never from local_databricks).

One implementation behind every way a Databricks driver reaches dbutils:

* the `dbutils` global of notebook tasks (notebook_runner.py) and of every task process
  (`builtins.dbutils`, installed lazily by sitecustomize.py);
* `from pyspark.dbutils import DBUtils; DBUtils(spark)` (sitecustomize maps `pyspark.dbutils`);
* `from databricks.sdk.runtime import dbutils` (the shim's `dbruntime` package).

Widgets carry the task's `base_parameters` (notebooks) and the run's job parameters
(LOCAL_DATABRICKS_NOTEBOOK_PARAMS); `secrets` reads the server's secret scopes over HTTP with the
run's own API token (LOCAL_DATABRICKS_API_URL / LOCAL_DATABRICKS_API_TOKEN), as a driver does.
"""

import base64
import json
import os
import shutil
import urllib.error
import urllib.parse
import urllib.request
from collections import namedtuple

FileInfo = namedtuple("FileInfo", ["path", "name", "size", "modificationTime"])
SecretMetadata = namedtuple("SecretMetadata", ["key"])
SecretScope = namedtuple("SecretScope", ["name"])
_SHARED = []
_WIDGETS = []


class InputWidgetNotDefined(Exception):
    """Raised by dbutils.widgets.get for a widget that has no value (as on Databricks)."""


class IllegalArgumentException(Exception):
    """What dbutils.secrets raises for an unknown scope or key (the JVM exception's name)."""


class NotebookExit(SystemExit):
    """dbutils.notebook.exit(): ends the task successfully (exit code 0)."""

    def __init__(self, value):
        super().__init__(0)
        self.value = value


class LazySpark:
    """`spark` of a driver's namespace (notebooks, `dbruntime`): a local SparkSession created on
    first attribute access (no JVM until then)."""

    def __init__(self):
        self._session = None

    def __getattr__(self, name):
        if self._session is None:
            from pyspark.sql import SparkSession

            self._session = SparkSession.builder.getOrCreate()
        return getattr(self._session, name)


def _params_from_env():
    try:
        values = json.loads(os.environ.get("LOCAL_DATABRICKS_NOTEBOOK_PARAMS") or "{}")
    except ValueError:
        values = {}
    return values if isinstance(values, dict) else {}


class Widgets:
    """dbutils.widgets backed by the task's base_parameters and job parameters."""

    def __init__(self, values=None):
        source = _params_from_env() if values is None else values
        self._values = {str(k): str(v) for k, v in source.items()}

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
    """dbutils.notebook: exit() (run() is not emulated)."""

    def exit(self, value):
        """End the task successfully; in a notebook task `value` becomes notebook_output.result."""
        exit_file = os.environ.get("LOCAL_DATABRICKS_NOTEBOOK_EXIT_FILE")
        if exit_file:
            with open(exit_file, "w", encoding="utf-8") as handle:
                handle.write("" if value is None else str(value))
        raise NotebookExit(value)

    def run(self, path, timeout_seconds=0, arguments=None):
        """Not emulated."""
        raise NotImplementedError("dbutils.notebook.run is not supported by local-databricks.")


def _fuse(path):
    if path.startswith("dbfs:/Volumes/"):
        return path[len("dbfs:") :]
    if path.startswith("dbfs:"):
        return "/dbfs" + path[len("dbfs:") :]
    if path.startswith("file:"):
        return path[len("file:") :]
    return path if path.startswith(("/dbfs/", "/Volumes/", "/Workspace/")) else "/dbfs" + path


class FsUtils:
    """dbutils.fs on top of the /dbfs and /Volumes FUSE mapping (paths as on Databricks)."""

    def ls(self, dir):
        """FileInfo entries of a directory (directory names end with /)."""
        local = _fuse(dir)
        base = dir.rstrip("/")
        entries = []
        for name in sorted(os.listdir(local)):
            full = os.path.join(local, name)
            is_dir = os.path.isdir(full)
            info = os.stat(full)
            shown = name + "/" if is_dir else name
            entries.append(
                FileInfo(
                    f"{base}/{shown}",
                    shown,
                    0 if is_dir else info.st_size,
                    int(info.st_mtime * 1000),
                )
            )
        return entries

    def head(self, file, maxBytes=65536):
        """First bytes of a file as text."""
        with open(_fuse(file), encoding="utf-8", errors="replace") as handle:
            return handle.read(maxBytes)

    def put(self, file, contents, overwrite=False):
        """Write text to a file."""
        local = _fuse(file)
        if os.path.exists(local) and not overwrite:
            raise FileExistsError(f"File already exists: {file}")
        os.makedirs(os.path.dirname(local), exist_ok=True)
        with open(local, "w", encoding="utf-8") as handle:
            handle.write(contents)
        return True

    def mkdirs(self, dir):
        """mkdir -p."""
        os.makedirs(_fuse(dir), exist_ok=True)
        return True

    def rm(self, dir, recurse=False):
        """Remove a file or directory; False when it does not exist."""
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
        """Copy a file (or a directory with recurse=True)."""
        source, target = _fuse(from_), _fuse(to)
        if os.path.isdir(source):
            if not recurse:
                raise IsADirectoryError(f"{from_} is a directory: use recurse=True")
            shutil.copytree(source, target, dirs_exist_ok=True)
        else:
            os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
            shutil.copyfile(source, target)
        return True

    def mv(self, from_, to, recurse=False):
        """Move a file or directory."""
        target = _fuse(to)
        os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
        shutil.move(_fuse(from_), target)
        return True


class SecretsUtils:
    """dbutils.secrets: the server's secret scopes, read with the run's API token."""

    def _call(self, path, **query):
        url = os.environ.get("LOCAL_DATABRICKS_API_URL")
        token = os.environ.get("LOCAL_DATABRICKS_API_TOKEN")
        if not url or not token:
            raise RuntimeError(
                "dbutils.secrets needs LOCAL_DATABRICKS_API_URL and LOCAL_DATABRICKS_API_TOKEN, "
                "which local-databricks sets in every task process."
            )
        target = f"{url}/api/2.0/secrets/{path}?{urllib.parse.urlencode(query)}"
        request = urllib.request.Request(target, headers={"Authorization": f"Bearer {token}"})
        # The secrets API is a loopback call: never through a proxy of the environment.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=30) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            try:
                body = json.loads(exc.read() or b"{}")
            except ValueError:
                body = {}
            if exc.code == 404 or body.get("error_code") == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise RuntimeError(f"secrets/{path} failed: {exc.code} {body}") from None

    def getBytes(self, scope, key):
        """The secret's bytes; IllegalArgumentException when the scope or key does not exist."""
        found = self._call("get", scope=scope, key=key)
        if found is None or "value" not in found:
            raise IllegalArgumentException(
                f"Secret does not exist with scope: {scope} and key: {key}"
            )
        return base64.b64decode(found["value"])

    def get(self, scope, key):
        """The secret's text (UTF-8)."""
        return self.getBytes(scope, key).decode("utf-8")

    def list(self, scope):
        """SecretMetadata(key) of every secret of a scope."""
        found = self._call("list", scope=scope)
        if found is None:
            raise IllegalArgumentException(f"Scope {scope} does not exist!")
        return [SecretMetadata(s["key"]) for s in found.get("secrets", [])]

    def listScopes(self):
        """SecretScope(name) of every scope."""
        found = self._call("scopes/list") or {}
        return [SecretScope(s["name"]) for s in found.get("scopes", [])]


class DBUtils:
    """The dbutils of a Databricks driver, as far as local-databricks emulates it.

    `DBUtils(spark)` as in `pyspark.dbutils`; the argument is accepted and not needed.
    """

    def __init__(self, spark=None):
        # Every DBUtils of a process shares one set of widgets, as on a driver.
        if not _WIDGETS:
            _WIDGETS.append(Widgets())
        self.widgets = _WIDGETS[0]
        self.notebook = NotebookUtils()
        self.fs = FsUtils()
        self.secrets = SecretsUtils()

    def __repr__(self):
        return "<DBUtils (local-databricks): widgets, notebook, fs, secrets>"


def shared():
    """The process-wide dbutils (the `dbutils` global), created on first use."""
    if not _SHARED:
        _SHARED.append(DBUtils())
    return _SHARED[0]
