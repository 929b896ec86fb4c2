"""The same remote script, run through upstream's ``PipesDatabricksClient`` and through
brickpipes.transport, reports the same to Dagster.

The script opens Pipes with dagster-pipes' own volumes loader and writer, not through
brickpipes_remote: the layout brickpipes writes and reads is upstream's. Runs only where
dagster-databricks is installed (the oldest end of the SDK range).
"""

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import dagster as dg
import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.config import Config
from databricks.sdk.service import jobs
from local_databricks import LocalDatabricks
from test_transport import VOLUME, run_remote, upload_remote

from brickpipes.transport import open_transport

pipes_upstream = pytest.importorskip(
    "dagster_databricks.pipes",
    reason="dagster-databricks is not installed: the protocol test runs in the environment of"
    " the oldest databricks-sdk, where dagster-databricks resolves",
)

SCRIPT = """
import dagster_pipes as dp

with dp.open_dagster_pipes(
    context_loader=dp.PipesUnityCatalogVolumesContextLoader(),
    message_writer=dp.PipesUnityCatalogVolumesMessageWriter(),
    params_loader=dp.PipesCliArgsParamsLoader(),
) as pipes:
    pipes.log.info("remote: starting " + pipes.asset_key)
    pipes.log.warning("remote: token " + pipes.get_extra("token"))
    pipes.report_asset_materialization(
        metadata={
            "rows": 3,
            "ratio": 0.5,
            "token": pipes.get_extra("token"),
            "url": {"raw_value": "https://example.com", "type": "url"},
        },
        data_version="v1",
    )
    pipes.report_asset_check(check_name="positive", passed=True, metadata={"rows": 3})
    pipes.report_asset_check(
        check_name="small", passed=False, severity="WARN", metadata={"limit": 2}
    )
"""
REMOTE_KEYS = {"rows", "ratio", "token", "url"}
# What upstream's client adds to every result about its run (the lead's runner adds its own).
UPSTREAM_RUN_KEYS = {"Databricks Job Run ID", "Databricks Job Run URL"}
Run = Callable[[dg.AssetExecutionContext, dict[str, Any]], Iterator[Any]]


@dataclass(frozen=True)
class Reported:
    metadata: dict[str, Any]
    data_version: str | None
    checks: dict[str, tuple[bool, str, dict[str, Any]]]
    logs: list[tuple[str, str]]


@pytest.fixture(scope="module")
def server() -> Iterator[LocalDatabricks]:
    with LocalDatabricks(volumes=[VOLUME], require_volumes=True) as ld:
        yield ld


@pytest.fixture(scope="module")
def client(server: LocalDatabricks) -> WorkspaceClient:
    return WorkspaceClient(
        config=Config(
            host=server.url, token=server.token, auth_type="pat", retry_timeout_seconds=10
        )
    )


@pytest.fixture(scope="module")
def task(server: LocalDatabricks, client: WorkspaceClient) -> jobs.SubmitTask:
    """A task on an existing cluster: upstream then passes the bootstrap as CLI arguments."""
    cluster_id = server.add_cluster()["cluster_id"]
    return jobs.SubmitTask(
        task_key="protocol",
        existing_cluster_id=cluster_id,
        spark_python_task=jobs.SparkPythonTask(python_file=upload_remote(client, SCRIPT)),
    )


def materialize(run: Run) -> Reported:
    checks = [dg.AssetCheckSpec(name, asset="orders") for name in ("positive", "small")]

    @dg.asset(check_specs=checks)
    def orders(context: dg.AssetExecutionContext):
        yield from run(context, {"token": "tok-123"})

    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([orders], instance=instance)
    [event] = result.get_asset_materialization_events()
    materialization = event.materialization
    return Reported(
        metadata=_remote_metadata(materialization.metadata),
        data_version=materialization.tags.get("dagster/data_version")
        if materialization.tags
        else None,
        checks={
            e.check_name: (e.passed, e.severity.value, _remote_metadata(e.metadata))
            for e in result.get_asset_check_evaluations()
        },
        logs=[
            (entry.level if isinstance(entry.level, str) else str(entry.level), entry.user_message)
            for entry in instance.all_logs(result.run_id)
            if entry.user_message.startswith("remote:")
        ],
    )


def _remote_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v.value for k, v in metadata.items() if k not in UPSTREAM_RUN_KEYS}


def test_upstream_client_and_brickpipes_report_the_same(
    client: WorkspaceClient, task: jobs.SubmitTask
) -> None:
    def upstream(context: dg.AssetExecutionContext, extras: dict[str, Any]) -> Iterator[Any]:
        pipes_client = pipes_upstream.PipesDatabricksClient(
            client=client,
            context_injector=pipes_upstream.PipesUnityCatalogVolumesContextInjector(
                client=client, volume_path=VOLUME
            ),
            message_reader=pipes_upstream.PipesUnityCatalogVolumesMessageReader(
                client=client, volume_path=VOLUME, interval=0.2, include_stdio_in_messages=False
            ),
            poll_interval_seconds=0.2,
        )
        yield from pipes_client.run(context=context, task=task, extras=extras).get_results()

    def brickpipes(context: dg.AssetExecutionContext, extras: dict[str, Any]) -> Iterator[Any]:
        injector, reader = open_transport(client, "volumes", volume_path=VOLUME, interval=0.2)
        with dg.open_pipes_session(context, injector, reader, extras=extras) as session:
            python_file = task.spark_python_task.python_file  # type: ignore[union-attr]
            run_remote(client, python_file, session.get_per_writer_bootstrap_cli_arguments())
        yield from session.get_results()

    through_upstream = materialize(upstream)
    through_brickpipes = materialize(brickpipes)

    assert set(through_brickpipes.metadata) == REMOTE_KEYS
    assert through_brickpipes.metadata == through_upstream.metadata
    assert through_brickpipes.data_version == through_upstream.data_version == "v1"
    assert through_brickpipes.checks == through_upstream.checks
    assert set(through_brickpipes.checks) == {"positive", "small"}
    assert through_brickpipes.logs == through_upstream.logs
    assert len(through_brickpipes.logs) == 2
