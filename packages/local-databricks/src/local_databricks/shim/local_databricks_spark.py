"""Spark in a task process (the patches are applied by local_databricks_hooks.py on import).

* `SparkSession.getActiveSession()` returns a fake session carrying the Databricks
  `spark.databricks.clusterUsageTags.*` conf when no real session is active.
* `SparkSession.builder.getOrCreate()` gives a real local Spark (`local[1]`) under the emulator
  root: a session on the server's shared Spark (LOCAL_DATABRICKS_SPARK_MODE=shared), or a JVM of
  the task's own.
* Unity Catalog names `catalog.schema.table` become `schema.table` for `spark.table`,
  `saveAsTable`, `insertInto` and `read.table`.
"""

import contextlib
import json
import os
import sys


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


def patch_session_module(module):
    """Patch `pyspark.sql.session` (active session, getOrCreate, table)."""
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


def patch_readwriter_module(module):
    """Patch `pyspark.sql.readwriter` (Unity Catalog table names)."""
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
