"""brickpipes.testing: a project's resources pointed at local Databricks, local speed, and
the summary of a local run."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import dagster as dg
import pytest
from databricks.sdk import WorkspaceClient

from brickpipes import testing
from brickpipes.testing import LocalSettings


def write_pyproject(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "pyproject.toml"
    path.write_text(body)
    return path


def test_settings_come_from_the_pyproject_table(tmp_path: Path) -> None:
    path = write_pyproject(
        tmp_path, '[tool.brickpipes]\nauth_method = "oauth-m2m"\ncompute = "serverless"\n'
    )
    assert LocalSettings.from_pyproject(path) == LocalSettings("oauth-m2m", "serverless")
    assert LocalSettings.from_pyproject(write_pyproject(tmp_path, "")) == LocalSettings()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('auth_method = "token"', "auth_method must be one of pat, oauth-m2m"),
        ('compute = "gpu"', "compute must be one of job-cluster, serverless"),
        ('cluster = "x"', "unknown [tool.brickpipes] keys: cluster"),
    ],
)
def test_bad_settings_say_what_is_wrong(tmp_path: Path, body: str, message: str) -> None:
    path = write_pyproject(tmp_path, f"[tool.brickpipes]\n{body}\n")
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        LocalSettings.from_pyproject(path)


@pytest.mark.parametrize("method", list(testing.AUTH_METHODS))
def test_each_auth_method_reaches_the_server_with_its_own_variables(
    local_databricks, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, method: str
) -> None:
    settings = LocalSettings(auth_method=method, compute="existing-cluster")
    env = testing.local_environment(local_databricks, settings, tmp_path)
    assert env["LOCAL_DATABRICKS_AUTH_METHOD"] == method
    assert env["LOCAL_DATABRICKS_URL"] == local_databricks.url
    assert local_databricks.runs() == [] and env["DATABRICKS_CLUSTER_ID"]
    for name in [n for n in env if n.startswith(testing.CREDENTIAL_PREFIXES)]:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    testing.activate(env, monkeypatch.setattr)
    from databricks.sdk.config import Config  # the patched one for azure-client-secret

    fields = {
        "pat": {"host": env.get("DATABRICKS_HOST"), "token": env.get("DATABRICKS_TOKEN")},
        "oauth-m2m": {
            "host": env.get("DATABRICKS_HOST"),
            "client_id": env.get("DATABRICKS_CLIENT_ID"),
            "client_secret": env.get("DATABRICKS_CLIENT_SECRET"),
        },
        "azure-client-secret": {
            "host": env.get("DATABRICKS_HOST"),
            "azure_client_id": env.get("ARM_CLIENT_ID"),
            "azure_client_secret": env.get("ARM_CLIENT_SECRET"),
            "azure_tenant_id": env.get("ARM_TENANT_ID"),
        },
        "profile": {"profile": env.get("DATABRICKS_CONFIG_PROFILE")},
    }[method]
    auth_type = None if method == "profile" else method
    client = WorkspaceClient(config=Config(**fields, auth_type=auth_type, retry_timeout_seconds=5))
    assert client.current_user.me().user_name


def test_local_azure_auth_needs_all_three_values(
    local_databricks, monkeypatch: pytest.MonkeyPatch
) -> None:
    testing.use_local_auth(local_databricks.url, local_databricks.token, monkeypatch.setattr)
    from databricks.sdk.config import Config

    with pytest.raises(ValueError, match="without azure_tenant_id"):
        Config(
            host=local_databricks.url,
            azure_client_id="app",
            azure_client_secret="secret",
            auth_type="azure-client-secret",
        )


class Poller(dg.ConfigurableResource):
    """A resource that polls, like the project's runners."""

    poll_interval_seconds: float = 30
    name: str = "poller"


class Plain(dg.ConfigurableResource):
    """A resource without polling settings."""

    name: str = "plain"


class Client(dg.ConfigurableResource):
    """A client with a retry budget, nested in a runner as the project's workspace is."""

    retry_timeout_seconds: int = 30


class Runner(dg.ConfigurableResource):
    """A runner that polls and holds a nested client."""

    client: Client
    poll_interval_seconds: float = 30


def test_fast_resources_speed_up_only_what_polls() -> None:
    definitions = dg.Definitions(resources={"poller": Poller(name="p"), "plain": Plain()})
    fast = testing.fast_resources(definitions)
    assert fast["poller"].poll_interval_seconds == 0.2 and fast["poller"].name == "p"
    assert fast["plain"] is definitions.resources["plain"]
    assert (
        testing.fast_resources(definitions, poll_interval_seconds=7)["poller"].poll_interval_seconds
        == 7
    )


def test_fast_resources_reach_nested_resources() -> None:
    definitions = dg.Definitions(resources={"runner": Runner(client=Client()), "plain": Plain()})
    fast = testing.fast_resources(definitions, retry_timeout_seconds=3)
    assert fast["runner"].poll_interval_seconds == 0.2
    assert fast["runner"].client.retry_timeout_seconds == 3
    assert definitions.resources["runner"].client.retry_timeout_seconds == 30  # not changed
    assert fast["plain"] is definitions.resources["plain"]


def test_local_runs_filter_warnings_as_the_project_tests_do(tmp_path: Path) -> None:
    path = write_pyproject(
        tmp_path,
        '[tool.pytest.ini_options]\nfilterwarnings = ["ignore:noisy upstream:UserWarning"]\n',
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        testing.apply_warning_filters(path)
        warnings.warn("noisy upstream call", UserWarning, stacklevel=1)
        warnings.warn("a warning of ours", UserWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["a warning of ours"]


def test_summary_shows_rows_table_columns_and_checks() -> None:
    schema = dg.TableSchema(
        columns=[dg.TableColumn("order_id", "bigint"), dg.TableColumn("amount", "decimal(10,2)")]
    )
    materialization = dg.AssetMaterialization(
        asset_key=["main", "s", "orders"],
        metadata={
            "dagster/row_count": 29,
            "dagster/table_name": "main.s.orders",
            "dagster/column_schema": schema,
            "preview": dg.MetadataValue.md("| a |\n| - |\n| 1 |"),
            "spark_seconds": 1.5,
        },
    )
    lines = testing.asset_summary(materialization, 2.04, ["order_id_not_null passed"])
    assert lines == [
        "main/s/orders: materialized in 2.0 s",
        "  rows: 29",
        "  table: main.s.orders",
        "  columns: order_id bigint, amount decimal(10,2)",
        "  checks: order_id_not_null passed",
        "  preview: (3 lines of text, shown in the Dagster UI)",
        "  spark_seconds: 1.5",
    ]


def test_local_azure_auth_works_as_the_first_config_of_a_process(local_databricks) -> None:
    # The SDK caches Config's attributes on first use: a fresh process must still work.
    code = (
        "import sys; from brickpipes.testing import use_local_auth;"
        "use_local_auth(sys.argv[1], sys.argv[2]);"
        "from databricks.sdk import WorkspaceClient; from databricks.sdk.config import Config;"
        "c = Config(host=sys.argv[1], azure_client_id='a', azure_client_secret='s',"
        " azure_tenant_id='t', auth_type='azure-client-secret');"
        "print(WorkspaceClient(config=c).current_user.me().user_name)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, local_databricks.url, local_databricks.token],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()


def test_a_local_run_summary_names_the_cause_of_a_failed_step() -> None:
    @dg.asset
    def broken() -> None:
        raise RuntimeError("remote said: order 42 has no region")

    result = dg.materialize([broken], raise_on_error=False)
    (failure,) = result.get_step_failure_events()
    # Dagster wraps it in "Error occurred while executing op ...:"; the summary goes past that.
    cause = testing.failure_cause(failure.step_failure_data.error)
    assert cause == "RuntimeError: remote said: order 42 has no region"


def test_remote_code_unit_tested_through_local_files_reports_every_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import dagster_pipes

    from brickpipes_remote import open_pipes

    monkeypatch.setattr(dagster_pipes.PipesContext, "_instance", None)
    check = dg.AssetCheckSpec("rows_positive", asset="probe")

    @dg.asset(check_specs=[check])
    def probe(context):
        with dg.open_pipes_session(
            context=context,
            context_injector=testing.LocalContextInjector(),
            message_reader=testing.LocalMessageReader(),
        ) as session:
            argv = ["remote.py"]
            for pair in session.get_bootstrap_cli_arguments().items():
                argv += pair
            monkeypatch.setattr(sys, "argv", argv)
            with open_pipes() as remote:  # the "local" transport the bootstrap names
                remote.report_asset_check(check_name="rows_positive", passed=True)
                remote.report_asset_materialization(metadata={"rows": 3})
        yield from session.get_results()

    result = dg.materialize([probe])
    assert result.success
    (event,) = result.get_asset_materialization_events()
    assert event.materialization.metadata["rows"].value == 3
    assert [e.check_name for e in result.get_asset_check_evaluations()] == ["rows_positive"]
