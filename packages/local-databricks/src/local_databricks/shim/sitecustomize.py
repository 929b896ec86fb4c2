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
  50 ms instead of up to 2 s (`_patch_dagster_pipes`).
* dbutils: a lazy `dbutils` builtin, and `pyspark.dbutils` (`DBUtils(spark)`) mapped to the
  shim's local_databricks_dbutils.py (see that module).
* An existing `sitecustomize` of the interpreter is still executed (chained).
"""

import builtins
import contextlib
import importlib.abc
import importlib.machinery
import importlib.util
import io
import json
import os
import sys

_SHIM_DIR = os.path.dirname(os.path.abspath(__file__))


def _load_map():
    try:
        mapping = json.loads(os.environ.get("LOCAL_DATABRICKS_FS_MAP") or "{}")
    except ValueError:
        mapping = {}
    items = [(k.rstrip("/"), v.rstrip("/")) for k, v in mapping.items() if k.startswith("/")]
    return sorted(items, key=lambda item: len(item[0]), reverse=True)


_MAP = _load_map()
_REQUIRE_VOLUMES = os.environ.get("LOCAL_DATABRICKS_REQUIRE_VOLUMES") == "1"
_REAL_STAT = os.stat


def _check_volume(path, target):
    """With LOCAL_DATABRICKS_REQUIRE_VOLUMES=1: /Volumes/c/s/v/... needs the volume to exist."""
    parts = path.split("/")  # ["", "Volumes", c, s, v, ...]
    if len(parts) < 5 or not all(parts[2:5]):
        return
    volume_dir = os.path.join(target, parts[2], parts[3], parts[4])
    try:
        exists = _stat_is_dir(_REAL_STAT(volume_dir))
    except OSError:
        exists = False
    if not exists:
        import errno

        raise FileNotFoundError(
            errno.ENOENT,
            f"Volume '{parts[2]}.{parts[3]}.{parts[4]}' does not exist",
            path,
        )


def _stat_is_dir(result):
    import stat

    return stat.S_ISDIR(result.st_mode)


def _map_str(path):
    for prefix, target in _MAP:
        if path == prefix or path.startswith(prefix + "/"):
            if _REQUIRE_VOLUMES and prefix == "/Volumes":
                _check_volume(path, target)
            return target + path[len(prefix) :]
    return None


def _map(path):
    """Return the local path for a FUSE path, or `path` unchanged."""
    if isinstance(path, str):
        mapped = _map_str(path)
        return path if mapped is None else mapped
    if isinstance(path, bytes):
        mapped = _map_str(os.fsdecode(path))
        return path if mapped is None else os.fsencode(mapped)
    if hasattr(path, "__fspath__"):
        text = path.__fspath__()
        if isinstance(text, (str, bytes)):
            mapped = _map(text)
            return path if mapped is text else mapped
    return path


def _as_builtin(wrapper, func):
    # A staticmethod is callable (3.10+) and, unlike a plain function, does not bind when
    # stored on a class: Python 3.10's pathlib keeps `open = io.open` on its accessor class.
    wrapper.__name__ = getattr(func, "__name__", "wrapper")
    wrapper.__doc__ = getattr(func, "__doc__", None)
    wrapper.__wrapped__ = func
    return staticmethod(wrapper)


def _wrap_one(func):
    def wrapper(path, *args, **kwargs):
        return func(_map(path), *args, **kwargs)

    return _as_builtin(wrapper, func)


def _wrap_two(func):
    def wrapper(src, dst, *args, **kwargs):
        return func(_map(src), _map(dst), *args, **kwargs)

    return _as_builtin(wrapper, func)


def _wrap_optional(func):
    # listdir()/scandir() default to the current directory.
    def wrapper(path=None, *args, **kwargs):
        if path is None:
            return func(*args, **kwargs)
        return func(_map(path), *args, **kwargs)

    return _as_builtin(wrapper, func)


_ONE_PATH = (
    "open",
    "stat",
    "lstat",
    "mkdir",
    "remove",
    "unlink",
    "rmdir",
    "access",
    "chmod",
    "chown",
    "utime",
    "chdir",
    "truncate",
    "readlink",
    "statvfs",
    "listxattr",
    "getxattr",
    "setxattr",
    "removexattr",
)


def _install_fs_shim():
    if not _MAP:
        return
    wrapped_open = _wrap_one(builtins.open)
    builtins.open = wrapped_open
    io.open = wrapped_open
    for name in _ONE_PATH:
        func = getattr(os, name, None)
        if func is not None:
            setattr(os, name, _wrap_one(func))
    for name in ("listdir", "scandir"):
        setattr(os, name, _wrap_optional(getattr(os, name)))
    for name in ("rename", "replace", "link"):
        func = getattr(os, name, None)
        if func is not None:
            setattr(os, name, _wrap_two(func))


# ---- Spark -------------------------------------------------------------------------------------


def _spark_conf():
    try:
        return json.loads(os.environ.get("LOCAL_DATABRICKS_SPARK_CONF") or "{}")
    except ValueError:
        return {}


class _FakeConf:
    def __init__(self, values):
        self._values = values

    def get(self, key, default=None):
        return self._values.get(key, default)

    def set(self, key, value):
        self._values[key] = value

    def getAll(self):
        return dict(self._values)

    def isModifiable(self, key):
        return True


class FakeDatabricksSparkSession:
    """Stands in for the SparkSession Databricks pre-creates on a driver (conf only)."""

    version = "local-databricks"

    def __init__(self):
        self.conf = _FakeConf(_spark_conf())

    def stop(self):
        return None

    def __repr__(self):
        return "<FakeDatabricksSparkSession (local-databricks): no JVM; conf only>"


_FAKE = []


def _fake_session():
    if not _FAKE:
        _FAKE.append(FakeDatabricksSparkSession())
    return _FAKE[0]


def _java_problem():
    import re
    import shutil
    import subprocess

    java_home = os.environ.get("JAVA_HOME")
    java = os.path.join(java_home, "bin", "java") if java_home else shutil.which("java")
    if not java or not os.path.exists(java):
        return "no `java` executable was found (PATH / JAVA_HOME)"
    try:
        out = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except OSError as exc:
        return f"running `{java} -version` failed: {exc}"
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not match:
        return f"could not read the Java version from `{java} -version`"
    major = int(match.group(1))
    if major == 1 and match.group(2):
        major = int(match.group(2))
    if major < 17:
        return f"`{java}` is Java {major}"
    return None


def _spark_defaults():
    base = os.environ.get("LOCAL_DATABRICKS_SPARK_DIR") or os.path.join(os.getcwd(), "spark")
    os.makedirs(base, exist_ok=True)
    log4j = os.path.join(base, "log4j2.properties")
    if not os.path.exists(log4j):
        with open(log4j, "w") as handle:
            handle.write(
                "rootLogger.level = error\nrootLogger.appenderRef.stderr.ref = console\n"
                "appender.console.type = Console\nappender.console.name = console\n"
                "appender.console.target = SYSTEM_ERR\n"
                "appender.console.layout.type = PatternLayout\n"
                "appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n%ex\n"
            )
    # C1 only (TieredStopAtLevel=1): local data is small, and C2's compiling is most of a cold
    # JVM's CPU; measured: first job 15.3 s -> 13.5 s on 2 cores.
    java_opts = (
        f"-Dderby.system.home={base}/derby -Dlog4j.configurationFile=file:{log4j} "
        "-XX:TieredStopAtLevel=1"
    )
    defaults = {
        "spark.master": "local[1]",
        "spark.app.name": "local-databricks",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.warehouse.dir": os.path.join(base, "warehouse"),
        "spark.local.dir": os.path.join(base, "tmp"),
        "spark.driver.extraJavaOptions": java_opts,
        "spark.sql.shuffle.partitions": "1",
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
    }
    defaults.update({k: str(v) for k, v in _spark_conf().items() if v is not None})
    return defaults


def _local_table(name):
    # Unity Catalog 3-level names (catalog.schema.table) become schema.table in local Spark.
    if not isinstance(name, str) or "`" in name:
        return name, None
    parts = name.split(".")
    if len(parts) == 3 and parts[0].lower() != "spark_catalog":
        return f"{parts[1]}.{parts[2]}", parts[1]
    if len(parts) == 2:
        return name, parts[0]
    return name, None


# Static or cluster-level settings a task cannot change on the shared Spark's session.
_SHARED_FIXED = ("spark.master", "spark.app.name", "spark.driver.", "spark.ui.", "spark.local.dir")


def _shared_gateway():
    """{port, secret} of the server's shared local Spark (started on the first request)."""
    import urllib.error
    import urllib.request

    url = os.environ.get("LOCAL_DATABRICKS_API_URL", "") + "/api/2.0/local-databricks/spark-gateway"
    request = urllib.request.Request(
        url,
        data=b"{}",
        method="POST",
        headers={
            "Authorization": f"Bearer {os.environ.get('LOCAL_DATABRICKS_API_TOKEN', '')}",
            "Content-Type": "application/json",
        },
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=300) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read()).get("message", "")
        except ValueError:
            message = ""
        raise RuntimeError(
            message or f"local-databricks: spark-gateway answered {exc.code}"
        ) from None


def _attach_shared(options):
    """A SparkSession of its own on the server's shared local Spark (SPARK_MODE=shared)."""
    from spark_attach import attach

    gateway = _shared_gateway()
    session = attach(gateway["port"], gateway["secret"])
    settings = {**_spark_conf(), **{str(k): v for k, v in options.items()}}
    for key, value in settings.items():
        if value is None or key.startswith(_SHARED_FIXED):
            continue
        try:
            session.conf.set(key, str(value))
        except Exception as exc:
            print(
                f"local-databricks: the shared local Spark keeps its {key}: {exc}",
                file=sys.stderr,
            )
    return session


def _patch_session_module(module):
    session_cls = module.SparkSession
    original_active = session_cls.__dict__["getActiveSession"]

    def getActiveSession(cls):
        session = original_active.__get__(None, cls)()
        return _fake_session() if session is None else session

    getActiveSession.__doc__ = "Active SparkSession, or a fake Databricks one (local-databricks)."
    session_cls.getActiveSession = classmethod(getActiveSession)

    builder_cls = getattr(session_cls, "Builder", None)
    if builder_cls is None or not hasattr(builder_cls, "getOrCreate"):
        return
    original_get_or_create = builder_cls.getOrCreate

    def getOrCreate(self):
        options = getattr(self, "_options", {})
        remote = "spark.remote" in options or os.environ.get("SPARK_REMOTE")
        if not remote:
            problem = _java_problem()
            if problem:
                raise RuntimeError(
                    "local-databricks: SparkSession.builder.getOrCreate() starts a local Spark "
                    f"session, which needs Java 17 or newer, but {problem}. Install a JDK 17+ "
                    "(e.g. `apt-get install openjdk-17-jre-headless`) or set JAVA_HOME."
                )
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
            if (
                os.environ.get("LOCAL_DATABRICKS_SPARK_MODE") == "shared"
                and session_cls._instantiatedSession is None
            ):
                return _attach_shared(options)
            for key, value in _spark_defaults().items():
                if key not in options:
                    self.config(key, value)
        session = original_get_or_create(self)
        if not remote:
            with contextlib.suppress(Exception):
                session.sparkContext.setLogLevel("ERROR")
        return session

    builder_cls.getOrCreate = getOrCreate

    original_table = session_cls.table

    def table(self, tableName):
        return original_table(self, _local_table(tableName)[0])

    session_cls.table = table


def _patch_readwriter_module(module):
    writer = getattr(module, "DataFrameWriter", None)
    reader = getattr(module, "DataFrameReader", None)
    if writer is not None:
        original_save = writer.saveAsTable
        original_insert = writer.insertInto

        def _ensure_schema(self, schema):
            spark = getattr(self, "_spark", None) or getattr(self._df, "sparkSession", None)
            if schema and spark is not None:
                spark.sql(f"CREATE DATABASE IF NOT EXISTS `{schema}`")

        def saveAsTable(self, name, *args, **kwargs):
            local, schema = _local_table(name)
            _ensure_schema(self, schema)
            return original_save(self, local, *args, **kwargs)

        def insertInto(self, tableName, *args, **kwargs):
            return original_insert(self, _local_table(tableName)[0], *args, **kwargs)

        writer.saveAsTable = saveAsTable
        writer.insertInto = insertInto
    if reader is not None:
        original_read_table = reader.table

        def read_table(self, tableName):
            return original_read_table(self, _local_table(tableName)[0])

        reader.table = read_table


# dagster-pipes' blob store writers (DBFS, volumes) check for the session's end once a second,
# and sleep another second after the last upload: up to 2 s of every remote exit. Locally the
# loop checks every 50 ms; uploads while the session is open keep their own interval.
_WRITER_LOOP_SECONDS = 0.05


class _FastLoopTime:
    """`time` for the writer's upload loop: the same clock, shorter naps."""

    def __init__(self, module):
        self._module = module

    def sleep(self, seconds):
        self._module.sleep(min(seconds, _WRITER_LOOP_SECONDS))

    def __getattr__(self, name):
        return getattr(self._module, name)


def _patch_dagster_pipes(module):
    import time
    import types

    channel = getattr(module, "PipesBlobStoreMessageWriterChannel", None)
    loop = getattr(channel, "_upload_loop", None)
    if loop is None or getattr(loop, "__globals__", {}).get("time") is not time:
        return  # not the shape this patch knows: leave dagster-pipes as it is
    namespace = dict(loop.__globals__)
    namespace["time"] = _FastLoopTime(time)
    fast = types.FunctionType(
        loop.__code__, namespace, loop.__name__, loop.__defaults__, loop.__closure__
    )
    fast.__doc__ = loop.__doc__
    channel._upload_loop = fast


_PATCHES = {
    "pyspark.sql.session": _patch_session_module,
    "pyspark.sql.readwriter": _patch_readwriter_module,
    "dagster_pipes": _patch_dagster_pipes,
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


def _install_spark_hook():
    sys.meta_path.insert(0, _PatchingFinder())
    # Without pyspark/py4j, stub packages (appended, so real ones always win) keep
    # PipesDbfsMessageWriter working against the fake session.
    stubs = os.path.join(_SHIM_DIR, "stubs")
    if os.path.isdir(stubs):
        for name in ("pyspark", "py4j"):
            if importlib.util.find_spec(name) is None:
                sys.path.append(stubs)
                break


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


_install_fs_shim()
_install_spark_hook()
_install_dbutils()
_chain_existing_sitecustomize()
