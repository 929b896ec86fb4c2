"""Local runs and tests of a project against local Databricks: its auth variables pointed at
a local-databricks server, runs at local speed, and a readable summary of what ran.

The emulator (local-databricks, a dev dependency) knows nothing of this runtime; this module
knows both. A project says how it authenticates and what it computes on in its
``pyproject.toml`` (the same values its ``defs/resources.py`` declares)::

    [tool.brickpipes]
    auth_method = "pat"          # pat | oauth-m2m | azure-client-secret | profile
    compute = "job-cluster"      # job-cluster | serverless | existing-cluster

Only the environment differs from production: the project's own code reads the same variables
it reads against a workspace. Its tests load this module as a pytest plugin
(``pytest_plugins = ["brickpipes.testing"]`` in ``tests/conftest.py``) for the
``local_workspace`` fixture; ``scripts/run_local.py`` calls :func:`run_cli`.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args

import pytest
from dagster import PipesMessageReader, PipesTempFileContextInjector
from local_databricks import LocalDatabricks
from local_databricks.bundle import deploy_bundle
from local_databricks.project import (
    ProjectSettings,
    api_call,
    call_summary,
    create_cluster,
    create_volumes,
    load_toml,
)

from .environments import DEVELOPER_VARIABLE, short_name
from .pipes import Compute
from .workspace import AUTH_METHODS

if TYPE_CHECKING:
    import dagster as dg

COMPUTES: tuple[str, ...] = get_args(Compute)
# Every variable a project's auth may read, and those that choose its environment (Dagster+,
# brickpipes): cleared before local variables are set, so a local run is a development run.
CREDENTIAL_PREFIXES = ("DATABRICKS_", "ARM_", "DAGSTER_CLOUD_", "BRICKPIPES_")
# What a child process (e.g. a test's Dagster subprocess) needs to wire itself the same way.
CHILD_VARIABLES = ("LOCAL_DATABRICKS_URL", "LOCAL_DATABRICKS_TOKEN", "LOCAL_DATABRICKS_AUTH_METHOD")
# Entra ID cannot be emulated offline: these stand in for the service principal's values, and
# use_local_auth() lets the SDK authenticate to the server with its token instead.
LOCAL_ENTRA = {
    "ARM_CLIENT_ID": "local-client",
    "ARM_CLIENT_SECRET": "local-secret",  # pragma: allowlist secret
    "ARM_TENANT_ID": "local-tenant",
}

# Local runs finish in seconds: runners poll and read Pipes messages often (production: tens of
# seconds), skip stdio forwarding (its capture adds seconds to each remote exit) and wait one
# second, not ten, for late messages of a run that ended without closing Pipes. Applied to
# every resource that has the setting (see fast_resources).
FAST_SETTINGS: dict[str, Any] = {
    "poll_interval_seconds": 0.2,
    "message_interval_seconds": 0.2,
    "forward_stdio": False,
    "late_messages_seconds": 1.0,
}


@dataclass(frozen=True)
class LocalSettings:
    """How a project reaches Databricks: the ``[tool.brickpipes]`` table."""

    auth_method: str = "pat"
    compute: str = "job-cluster"

    def __post_init__(self) -> None:
        if self.auth_method not in AUTH_METHODS:
            raise ValueError(
                f"[tool.brickpipes] auth_method must be one of {', '.join(AUTH_METHODS)};"
                f" got {self.auth_method!r}"
            )
        if self.compute not in COMPUTES:
            raise ValueError(
                f"[tool.brickpipes] compute must be one of {', '.join(COMPUTES)};"
                f" got {self.compute!r}"
            )

    @classmethod
    def from_pyproject(cls, path: str | Path) -> LocalSettings:
        """Read ``[tool.brickpipes]`` of ``path`` (defaults where it is absent)."""
        table = load_toml(path).get("tool", {}).get("brickpipes", {})
        unknown = sorted(set(table) - {"auth_method", "compute"})
        if unknown:
            raise ValueError(f"{path}: unknown [tool.brickpipes] keys: {', '.join(unknown)}")
        return cls(**table)


def local_environment(
    server: LocalDatabricks, settings: LocalSettings, workdir: Path
) -> dict[str, str]:
    """The variables that point ``settings.auth_method`` at ``server`` (as production names
    them, :data:`AUTH_METHODS`), plus the ``LOCAL_DATABRICKS_*`` variables a child process
    reads; for ``existing-cluster``, an all-purpose cluster created through the REST API."""
    method = settings.auth_method
    values = {
        "DATABRICKS_HOST": server.url,
        "DATABRICKS_TOKEN": server.token,
        "DATABRICKS_CLIENT_ID": server.client_id,
        "DATABRICKS_CLIENT_SECRET": server.client_secret,
        **LOCAL_ENTRA,
    }
    if method == "profile":
        config = workdir / "databrickscfg"
        config.write_text(f"[local]\nhost = {server.url}\ntoken = {server.token}\n")
        env = {"DATABRICKS_CONFIG_FILE": str(config), "DATABRICKS_CONFIG_PROFILE": "local"}
    else:
        env = {name: values[name] for name in AUTH_METHODS[method].variables.values()}
    if settings.compute == "existing-cluster":
        env["DATABRICKS_CLUSTER_ID"] = create_cluster(server)
    # A development run, named as the server's own user, who deploys the bundle's dev target:
    # whichever identity the auth method authenticates as, Dagster and the bundle agree.
    me = api_call(server, "GET", "/api/2.0/preview/scim/v2/Me")
    env[DEVELOPER_VARIABLE] = short_name(me["userName"], me.get("displayName"))
    env.update(zip(CHILD_VARIABLES, (server.url, server.token, method), strict=True))
    return env


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
            # brickpipes' own exchange at the server's Entra ID endpoint (LOCAL_DATABRICKS_URL
            # names the host) brings its credentials: nothing to swap.
            own = "credentials_strategy" in kwargs
            if local and not own and kwargs.get("auth_type") == "azure-client-secret":
                missing = [name for name in entra_fields if not kwargs.get(name)]
                if missing:
                    raise ValueError(f"azure-client-secret config without {', '.join(missing)}")
                for name in entra_fields:
                    kwargs.pop(name)
                kwargs.update(auth_type="pat", token=token)
            super().__init__(**kwargs)

    setattr(sdk_config, "Config", LocalEntraConfig)


def activate(env: Mapping[str, str] | None = None, setattr: Callable[..., Any] = setattr) -> None:
    """Wire this process for local runs from ``env`` (default: ``os.environ``), as the
    ``local_workspace`` fixture does: local auth where the method needs it.

    For a child process started by a test: its environment already holds the project's
    variables and the ``LOCAL_DATABRICKS_*`` ones.
    """
    env = os.environ if env is None else env
    missing = [name for name in CHILD_VARIABLES if name not in env]
    if missing:
        raise RuntimeError(f"local Databricks variables missing: {', '.join(missing)}")
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
    pyproject: Path, workdir: Path, **server_options: Any
) -> Iterator[LocalDatabricks]:
    """A started server prepared as ``pyproject`` says (volumes, bundle jobs) with this
    process's environment pointed at it (restored after)."""
    saved = dict(os.environ)
    server_settings = ProjectSettings.from_pyproject(pyproject)
    settings = LocalSettings.from_pyproject(pyproject)
    server_options.setdefault("require_volumes", server_settings.require_volumes)
    with LocalDatabricks(root=workdir / "server", **server_options) as server:
        create_volumes(server, server_settings.volumes)
        if (pyproject.parent / "databricks.yml").is_file():
            deploy_bundle(server, pyproject.parent)
        for name in [n for n in os.environ if n.startswith(CREDENTIAL_PREFIXES)]:
            del os.environ[name]
        os.environ.update(local_environment(server, settings, workdir))
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

    table = load_toml(pyproject).get("tool", {}).get("pytest", {}).get("ini_options", {})
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
        print(
            f"\nstep {failure.step_key}: FAILED: {failure_cause(failure.step_failure_data.error)}"
        )
    calls = call_summary(server)
    print(f"\nDatabricks API calls: {sum(calls.values())}")
    for route, count in calls.items():
        print(f"  {count:>4}  {route}")


def run_cli(
    definitions: Callable[[], dg.Definitions],
    pyproject: str | Path,
    argv: list[str] | None = None,
) -> int:
    """``scripts/run_local.py``: materialize assets against a fresh local Databricks, with the
    project's volumes created and its bundle's jobs deployed (as a team prepares a workspace).
    Returns the process exit code.
    """
    parser = argparse.ArgumentParser(
        description="Materialize this project's assets through local Databricks."
    )
    parser.add_argument("assets", nargs="*", help="asset keys (default: all)")
    args = parser.parse_args(argv)
    pyproject = Path(pyproject)
    settings = LocalSettings.from_pyproject(pyproject)
    apply_warning_filters(pyproject)
    with (
        tempfile.TemporaryDirectory(prefix="local-databricks-") as tmp,
        local_session(pyproject, Path(tmp)) as server,
    ):
        print(f"local Databricks at {server.url} (auth_method={settings.auth_method})")
        result = materialize(definitions(), args.assets)
        report(result, server)
    print("\nsucceeded" if result.success else "\nFAILED (see the errors above)")
    sys.stdout.flush()
    return 0 if result.success else 1


def failure_cause(error: Any) -> str:
    """The first line of the innermost error behind a step failure (Dagster wraps the step's
    own exception: "Error occurred while executing op ...:"), with its type."""
    if error is None:
        return "(no error message)"
    while error.cause is not None:
        error = error.cause
    lines = error.message.strip().splitlines() or [error.cls_name or "error"]
    return lines[0]


@pytest.fixture(scope="session")
def brickpipes_settings(pytestconfig: pytest.Config) -> LocalSettings:
    """The project's ``[tool.brickpipes]`` settings."""
    pyproject = Path(pytestconfig.rootpath) / "pyproject.toml"
    return LocalSettings.from_pyproject(pyproject) if pyproject.is_file() else LocalSettings()


@pytest.fixture
def local_workspace(
    local_databricks: LocalDatabricks,
    local_databricks_settings: ProjectSettings,
    brickpipes_settings: LocalSettings,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> LocalDatabricks:
    """Local Databricks with the project's volumes, and the project's auth variables pointing
    at it (undone after)."""
    for name in list(os.environ):
        if name.startswith(CREDENTIAL_PREFIXES):
            monkeypatch.delenv(name, raising=False)
    create_volumes(local_databricks, local_databricks_settings.volumes)
    env = local_environment(local_databricks, brickpipes_settings, tmp_path)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    activate(env, monkeypatch.setattr)
    return local_databricks


def failure_text(result: dg.ExecuteInProcessResult) -> str:
    """Every message of the step failures of ``result``, causes included."""
    messages = []
    for event in result.get_step_failure_events():
        error = event.step_failure_data.error
        while error is not None:
            messages.append(error.message)
            error = error.cause
    return "\n".join(messages)


class LocalContextInjector(PipesTempFileContextInjector):
    """Pipes context in a local temp file, for unit tests of remote scripts: the bootstrap
    names the ``local`` transport, which ``brickpipes_remote.open_pipes`` reads as files."""

    @contextmanager
    def inject_context(self, context_data: Any) -> Iterator[dict[str, Any]]:
        """The temp file's params, with the transport named."""
        with super().inject_context(context_data) as params:
            yield {**params, "transport": "local"}


class LocalMessageReader(PipesMessageReader):
    """Pipes messages through a local temp file (see :class:`LocalContextInjector`), read once
    the session closes: a unit test runs the remote code to its end inside the session, and a
    file tailed while it is written can yield half a line (Dagster's file reader then stops)."""

    @contextmanager
    def read_messages(self, handler: Any) -> Iterator[dict[str, Any]]:
        """The file's params, with the transport named; every message handled at the end."""
        with tempfile.TemporaryDirectory(prefix="brickpipes-local-") as folder:
            path = Path(folder) / "messages"
            path.touch()
            try:
                yield {"path": str(path), "transport": "local"}
            finally:
                for line in path.read_text(encoding="utf-8").splitlines():
                    if line.strip():
                        handler.handle_message(json.loads(line))

    def no_messages_debug_text(self) -> str:
        """What the session tells when no message came."""
        return "Read messages from a local file: open Pipes with brickpipes_remote.open_pipes."
