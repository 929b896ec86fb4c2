"""Point a Dagster project at local Databricks: its auth variables, fast Pipes, a local run.

The pytest plugin's fixtures (``local_workspace``) and a project's ``scripts/run_local.py`` use
this module, so the tests and a local run are wired the same way. A project says how it
authenticates in its ``pyproject.toml``::

    [tool.local-databricks]
    auth_method = "pat"          # pat | oauth-m2m | azure-client-secret | profile
    compute = "job-cluster"      # job-cluster | serverless | existing-cluster

Only the environment differs from production: the project's own code reads the same
variables it reads against a workspace. Dagster and the Databricks SDK are imported lazily,
so the server itself stays stdlib-only.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .api import LocalDatabricks

if TYPE_CHECKING:
    import dagster as dg

AUTH_METHODS = ("pat", "oauth-m2m", "azure-client-secret", "profile")
COMPUTES = ("job-cluster", "serverless", "existing-cluster")
# Every variable a project's auth may read: cleared before local variables are set.
CREDENTIAL_PREFIXES = ("DATABRICKS_", "ARM_")
# What a child process (e.g. a test's Dagster subprocess) needs to wire itself the same way.
CHILD_VARIABLES = ("LOCAL_DATABRICKS_URL", "LOCAL_DATABRICKS_TOKEN", "LOCAL_DATABRICKS_AUTH_METHOD")

# Local runs finish in seconds: runners poll and read Pipes messages often (production: tens of
# seconds) and skip stdio forwarding, whose capture threads add seconds to each remote exit.
# Applied to every resource that has the setting (see fast_resources).
FAST_SETTINGS: dict[str, Any] = {
    "poll_interval_seconds": 0.2,
    "message_interval_seconds": 0.2,
    "forward_stdio": False,
}
# When a run ends without the remote's "closed" message (cancelled, timed out), Dagster's
# Pipes readers keep reading late messages once a second for 10 s; its reader loop also
# sleeps 1 s between reads (dagster._core.pipes.utils).
FAST_READER = {"DEFAULT_SLEEP_INTERVAL": 0.2, "WAIT_FOR_LOGS_AFTER_EXECUTION_INTERVAL": 1}


def _load_toml(path: str | Path) -> dict[str, Any]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: pytest depends on tomli there
        import tomli as tomllib  # type: ignore[no-redef]
    return tomllib.loads(Path(path).read_text())


@dataclass(frozen=True)
class ProjectSettings:
    """How a project reaches Databricks: the ``[tool.local-databricks]`` table."""

    auth_method: str = "pat"
    compute: str = "job-cluster"
    # Unity Catalog volumes the project's setup creates (with their catalogs and schemas) through
    # the REST API, as a team does on a workspace; require_volumes makes writes outside them fail
    # as on the service.
    volumes: tuple[str, ...] = ()
    require_volumes: bool = False
    # Start the tests' local Spark with the test session, in the background (in pytest-xdist's
    # controller, which is idle while workers test), so the first Spark test finds it warm.
    warm_spark: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "volumes", tuple(self.volumes))
        for volume in self.volumes:
            parts = volume.split("/") if isinstance(volume, str) else []
            if len(parts) != 5 or parts[:2] != ["", "Volumes"] or not all(parts[2:]):
                raise ValueError(
                    "[tool.local-databricks] volumes entries are /Volumes/<catalog>/<schema>/"
                    f'<volume>; got {volume!r} (for example "/Volumes/main/sales/dagster_pipes")'
                )
        for name in ("require_volumes", "warm_spark"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(
                    f"[tool.local-databricks] {name} must be true or false; got "
                    f"{getattr(self, name)!r}"
                )
        if self.auth_method not in AUTH_METHODS:
            raise ValueError(
                f"[tool.local-databricks] auth_method must be one of {', '.join(AUTH_METHODS)};"
                f" got {self.auth_method!r}"
            )
        if self.compute not in COMPUTES:
            raise ValueError(
                f"[tool.local-databricks] compute must be one of {', '.join(COMPUTES)};"
                f" got {self.compute!r}"
            )

    @classmethod
    def from_pyproject(cls, path: str | Path) -> ProjectSettings:
        """Read ``[tool.local-databricks]`` of ``path`` (defaults where it is absent)."""
        table = _load_toml(path).get("tool", {}).get("local-databricks", {})
        known = {"auth_method", "compute", "volumes", "require_volumes", "warm_spark"}
        unknown = sorted(set(table) - known)
        if unknown:
            raise ValueError(f"{path}: unknown [tool.local-databricks] keys: {', '.join(unknown)}")
        return cls(**table)


def project_environment(
    server: LocalDatabricks, settings: ProjectSettings, workdir: Path
) -> dict[str, str]:
    """The variables that point ``settings.auth_method`` at ``server`` (as production names
    them), plus the ``LOCAL_DATABRICKS_*`` variables a child process reads."""
    method = settings.auth_method
    if method in ("pat", "oauth-m2m"):
        env = server.env(method)
    elif method == "profile":
        config = workdir / "databrickscfg"
        config.write_text(f"[local]\nhost = {server.url}\ntoken = {server.token}\n")
        env = {"DATABRICKS_CONFIG_FILE": str(config), "DATABRICKS_CONFIG_PROFILE": "local"}
    else:
        # Entra ID cannot be emulated offline: the ARM_* variables are set as in production and
        # use_local_auth() lets the SDK authenticate to the server with its token instead.
        env = {
            "DATABRICKS_HOST": server.url,
            "ARM_CLIENT_ID": "local-client",
            "ARM_CLIENT_SECRET": "local-secret",
            "ARM_TENANT_ID": "local-tenant",
        }
    create_volumes(server, settings.volumes)
    if settings.compute == "existing-cluster":
        env["DATABRICKS_CLUSTER_ID"] = create_cluster(server)
    values = (server.url, server.token, method)
    env.update(zip(CHILD_VARIABLES, values, strict=True))
    return env


def _api(server: LocalDatabricks, method: str, path: str, body: dict | None = None) -> dict:
    """One REST call with the workspace token (stdlib only: setup runs before any SDK import)."""
    import json
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        server.url + path,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"Bearer {server.token}", "Content-Type": "application/json"},
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=30) as response:
            return json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        answer = json.loads(exc.read() or b"{}")
        if exc.code == 409 and str(answer.get("error_code", "")).endswith("ALREADY_EXISTS"):
            return {}
        raise RuntimeError(f"{method} {path}: {exc.code} {answer}") from None


def create_volumes(server: LocalDatabricks, volumes: tuple[str, ...] | list[str]) -> None:
    """Create each /Volumes/<c>/<s>/<v>, and its catalog and schema, through the Unity Catalog
    API (what exists already is left as it is)."""
    base = "/api/2.1/unity-catalog"
    for volume in volumes:
        catalog, schema, name = volume.split("/")[2:5]
        _api(server, "POST", f"{base}/catalogs", {"name": catalog})
        _api(server, "POST", f"{base}/schemas", {"name": schema, "catalog_name": catalog})
        _api(
            server,
            "POST",
            f"{base}/volumes",
            {
                "catalog_name": catalog,
                "schema_name": schema,
                "name": name,
                "volume_type": "MANAGED",
            },
        )


def create_cluster(server: LocalDatabricks) -> str:
    """An all-purpose cluster created through clusters/create, as a team creates one; its id.

    It is RUNNING after the server's cluster start delay; a run on it waits until then.
    """
    versions = _api(server, "GET", "/api/2.1/clusters/spark-versions")["versions"]
    node_types = _api(server, "GET", "/api/2.1/clusters/list-node-types")["node_types"]
    body = {
        "cluster_name": "local-all-purpose",
        "spark_version": versions[0]["key"],
        "node_type_id": node_types[0]["node_type_id"],
        "num_workers": 0,
        "autotermination_minutes": 60,
    }
    return _api(server, "POST", "/api/2.1/clusters/create", body)["cluster_id"]


def use_local_auth(url: str, token: str, setattr: Callable[..., Any] = setattr) -> None:
    """Let an ``azure-client-secret`` SDK config for ``url`` authenticate with ``token``.

    The project builds its ``Config`` with the three ARM values as in production; this checks
    they are all there and swaps them for the server's token. Configs for other hosts and
    other auth types are untouched. Tests pass ``monkeypatch.setattr`` to undo it.
    """
    import databricks.sdk.config as sdk_config

    base = getattr(sdk_config.Config, "_local_databricks_base", sdk_config.Config)
    # Config.attributes() caches its descriptors on the first class it is called on, reading
    # that class's own __dict__: a subclass asked first would cache none (databricks-sdk 0.60).
    base.attributes()
    entra_fields = ("azure_client_id", "azure_client_secret", "azure_tenant_id")

    class LocalEntraConfig(base):  # type: ignore[misc, valid-type]
        _local_databricks_base = base

        def __init__(self, **kwargs: Any) -> None:
            local = str(kwargs.get("host") or "").rstrip("/") == url
            if local and kwargs.get("auth_type") == "azure-client-secret":
                missing = [name for name in entra_fields if not kwargs.get(name)]
                if missing:
                    raise ValueError(f"azure-client-secret config without {', '.join(missing)}")
                for name in entra_fields:
                    kwargs.pop(name)
                kwargs.update(auth_type="pat", token=token)
            super().__init__(**kwargs)

    setattr(sdk_config, "Config", LocalEntraConfig)


def use_fast_reader(setattr: Callable[..., Any] = setattr) -> None:
    """Shorten Dagster's Pipes reader waits for local runs (tests pass ``monkeypatch.setattr``)."""
    import dagster._core.pipes.utils as pipes_utils

    for name, value in FAST_READER.items():
        setattr(pipes_utils, name, value)


def activate(env: Mapping[str, str] | None = None, setattr: Callable[..., Any] = setattr) -> None:
    """Wire this process for local runs from ``env`` (default: ``os.environ``), as the
    ``local_workspace`` fixture does: fast readers, and local auth where the method needs it.

    For a child process started by a test: its environment already holds the project's
    variables and the ``LOCAL_DATABRICKS_*`` ones.
    """
    env = os.environ if env is None else env
    missing = [name for name in CHILD_VARIABLES if name not in env]
    if missing:
        raise RuntimeError(f"local Databricks variables missing: {', '.join(missing)}")
    use_fast_reader(setattr)
    if env["LOCAL_DATABRICKS_AUTH_METHOD"] == "azure-client-secret":
        use_local_auth(env["LOCAL_DATABRICKS_URL"], env["LOCAL_DATABRICKS_TOKEN"], setattr)


def fast_resources(definitions: dg.Definitions, **overrides: Any) -> dict[str, Any]:
    """The definitions' resources, each one that polls rebuilt with local-speed settings.

    A resource gets those of ``FAST_SETTINGS`` (then ``overrides``) that are fields of its
    class, and so does every resource nested in it (a runner's ``workspace``); the others are
    returned as they are.
    """
    wanted = {**FAST_SETTINGS, **overrides}
    return {
        key: _with_settings(value, wanted) for key, value in (definitions.resources or {}).items()
    }


def _with_settings(resource: Any, wanted: dict[str, Any]) -> Any:
    """``resource`` rebuilt with the ``wanted`` settings it has, nested resources included."""
    import dagster as dg

    fields = getattr(type(resource), "model_fields", {})
    if not isinstance(resource, dg.ConfigurableResource) or not fields:
        return resource
    current = {name: getattr(resource, name) for name in fields}
    changes = {name: value for name, value in wanted.items() if name in fields}
    for name, value in current.items():
        nested = _with_settings(value, wanted)
        if nested is not value:
            changes.setdefault(name, nested)
    if not changes:
        return resource
    # A new instance, not model_copy(): Dagster rebuilds resources from their arguments.
    return type(resource)(**{**current, **changes})


def call_summary(server: LocalDatabricks) -> dict[str, int]:
    """Count the API calls by method and route (file paths folded)."""
    counts: collections.Counter[str] = collections.Counter()
    for call in server.calls():
        path = re.sub(r"^(/api/2\.\d/fs/(files|directories))/.*", r"\1/...", call["path"])
        counts[f"{call['method']} {path}"] += 1
    return dict(sorted(counts.items()))


def select_assets(definitions: dg.Definitions, keys: list[str]) -> list[dg.AssetsDefinition]:
    """The assets definitions among ``keys`` (all when empty), without bound resources."""
    import dagster as dg

    assets = [a for a in definitions.assets or [] if isinstance(a, dg.AssetsDefinition)]
    if not keys:
        return assets
    wanted = {dg.AssetKey.from_user_string(key) for key in keys}
    return [a for a in assets if wanted & set(a.keys)]


def latest_partition(assets: list[dg.AssetsDefinition]) -> str | None:
    """The last partition key of the partitioned assets among ``assets`` (None if none)."""
    keys = {a.partitions_def.get_last_partition_key() for a in assets if a.partitions_def}
    found = [key for key in keys if key]
    return max(found) if found else None


@contextmanager
def local_session(
    settings: ProjectSettings, workdir: Path, **server_options: Any
) -> Iterator[LocalDatabricks]:
    """A started server with this process's environment pointed at it (restored after)."""
    saved = dict(os.environ)
    server_options.setdefault("require_volumes", settings.require_volumes)
    with LocalDatabricks(root=workdir / "server", **server_options) as server:
        for name in [n for n in os.environ if n.startswith(CREDENTIAL_PREFIXES)]:
            del os.environ[name]
        os.environ.update(project_environment(server, settings, workdir))
        try:
            activate()
            yield server
        finally:
            os.environ.clear()
            os.environ.update(saved)


def materialize(
    definitions: dg.Definitions, keys: list[str] | None = None
) -> dg.ExecuteInProcessResult:
    """Materialize ``keys`` (all assets when empty; partitioned ones: their latest partition)."""
    import dagster as dg

    assets = select_assets(definitions, list(keys or []))
    return dg.materialize(
        assets,
        resources=fast_resources(definitions),
        partition_key=latest_partition(assets),
        raise_on_error=False,
        # INFO keeps the remote logs and state changes, without Dagster's step-by-step DEBUG.
        run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
    )


# Metadata the summary shows on lines of their own; the rest follows as "key: value".
ROW_KEYS = ("dagster/row_count", "row_count", "rows")
TABLE_KEYS = ("dagster/table_name", "table")
RUN_KEYS = ("Databricks Job Run URL", "Databricks Run URL")


def step_seconds(result: dg.ExecuteInProcessResult) -> dict[str, float]:
    """How long each successful step of ``result`` took (Dagster records it on success)."""
    return {
        event.step_key: event.event_specific_data.duration_ms / 1000
        for event in result.all_events
        if event.is_step_success and event.step_key and event.event_specific_data
    }


def apply_warning_filters(pyproject: str | Path) -> None:
    """Show the local run the warnings the tests show: the project's pytest
    ``filterwarnings`` (``action:message:category:module``), applied to this process."""
    import importlib

    table = _load_toml(pyproject).get("tool", {}).get("pytest", {}).get("ini_options", {})
    for spec in table.get("filterwarnings", []):
        action, message, category, module = [*spec.split(":", 4), "", "", ""][:4]
        category_class: type[Warning] = Warning
        if category:
            module_name, _, name = category.rpartition(".")
            category_class = getattr(importlib.import_module(module_name or "builtins"), name)
        # As pytest applies ini filters: message and module are regular expressions.
        warnings.filterwarnings(action, message, category_class, module)  # type: ignore[arg-type]


def describe_value(value: Any) -> str:
    """A metadata value for people: a table schema as its columns, anything else as text."""
    columns = getattr(value, "columns", None)
    if columns is not None:
        return ", ".join(f"{column.name} {column.type}" for column in columns)
    return str(value)


def asset_summary(materialization: Any, seconds: float | None, checks: list[str]) -> list[str]:
    """The lines of one materialized asset: rows, table, columns, checks, run, the rest."""
    metadata = {name: value.value for name, value in materialization.metadata.items()}
    took = f" in {seconds:.1f} s" if seconds is not None else ""
    lines = [f"{materialization.asset_key.to_user_string()}: materialized{took}"]
    # The run id is part of the run's URL, shown above.
    shown = {"dagster/column_schema", "Databricks Job Run ID", *ROW_KEYS, *TABLE_KEYS, *RUN_KEYS}
    for label, keys in (("rows", ROW_KEYS), ("table", TABLE_KEYS), ("run", RUN_KEYS)):
        found = next((metadata[key] for key in keys if key in metadata), None)
        if found is not None:
            lines.append(f"  {label}: {found}")
    if "dagster/column_schema" in metadata:
        lines.append(f"  columns: {describe_value(metadata['dagster/column_schema'])}")
    if checks:
        lines.append(f"  checks: {', '.join(checks)}")
    for name, value in metadata.items():
        if name not in shown:
            text = describe_value(value)
            if "\n" in text:  # a Markdown table or report: the Dagster UI renders it
                text = f"({len(text.splitlines())} lines of text, shown in the Dagster UI)"
            lines.append(f"  {name}: {text[:117] + '...' if len(text) > 120 else text}")
    return lines


def report(result: dg.ExecuteInProcessResult, server: LocalDatabricks) -> None:
    """Print one summary per asset (status, rows, table, columns, checks, duration), the
    failed steps with their error, then the Databricks API calls by kind."""
    seconds = step_seconds(result)
    checks: dict[Any, list[str]] = collections.defaultdict(list)
    for evaluation in result.get_asset_check_evaluations():
        state = "passed" if evaluation.passed else "FAILED"
        checks[evaluation.asset_key].append(f"{evaluation.check_name} {state}")
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        lines = asset_summary(
            materialization,
            seconds.get(event.step_key or ""),
            checks.get(materialization.asset_key, []),
        )
        print("\n" + "\n".join(lines))
    for failure in result.get_step_failure_events():
        error = failure.step_failure_data.error
        message = error.message.strip().splitlines()[0] if error else "(no error message)"
        print(f"\nstep {failure.step_key}: FAILED: {message}")
    calls = call_summary(server)
    print(f"\nDatabricks API calls: {sum(calls.values())}")
    for route, count in calls.items():
        print(f"  {count:>4}  {route}")


def run_cli(
    definitions: Callable[[], dg.Definitions],
    pyproject: str | Path,
    setup: Callable[[], object] | None = None,
    argv: list[str] | None = None,
) -> int:
    """``scripts/run_local.py``: materialize assets against a fresh local Databricks.

    ``setup`` runs once the environment points at the server (e.g. deploying the project's
    jobs, as a team deploys them to a workspace). Returns the process exit code.
    """
    parser = argparse.ArgumentParser(
        description="Materialize this project's assets through local Databricks."
    )
    parser.add_argument("assets", nargs="*", help="asset keys (default: all)")
    args = parser.parse_args(argv)
    settings = ProjectSettings.from_pyproject(pyproject)
    apply_warning_filters(pyproject)
    with (
        tempfile.TemporaryDirectory(prefix="local-databricks-") as tmp,
        local_session(settings, Path(tmp)) as server,
    ):
        print(f"local Databricks at {server.url} (auth_method={settings.auth_method})")
        if setup is not None:
            setup()
        result = materialize(definitions(), args.assets)
        report(result, server)
    print("\nsucceeded" if result.success else "\nFAILED (see the errors above)")
    sys.stdout.flush()
    return 0 if result.success else 1
