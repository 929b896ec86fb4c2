"""brickpipes.transport and brickpipes_remote against local Databricks over HTTP, real SDK.

Each test materializes assets whose body opens a Pipes session with the transport's injector and
reader and submits a run of a remote script (uploaded with ``brickpipes_remote.py`` next to it).
"""

import base64
import io
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import dagster_pipes as dp
import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.config import Config
from databricks.sdk.errors import NotFound
from databricks.sdk.service import compute, jobs
from databricks.sdk.service.workspace import ImportFormat
from local_databricks import LocalDatabricks

from brickpipes.transport import Transport, open_transport

VOLUME = "/Volumes/main/pipes/scratch"
REMOTE_HELPER = Path(__file__).parents[1] / "src" / "brickpipes_remote.py"
FAST = 0.2  # reader interval of the tests that do not time the reader

# Reports one asset per writer (--writer i picks extras["assets"][i]) and echoes its context.
REPORTING_SCRIPT = """
import sys
from brickpipes_remote import open_pipes

writer = int(sys.argv[sys.argv.index("--writer") + 1])
with open_pipes() as pipes:
    asset = pipes.get_extra("assets")[writer]
    pipes.log.info(f"remote: hello from writer {writer}")
    print(f"remote stdout of writer {writer}")
    print(f"remote stderr of writer {writer}", file=sys.stderr)
    pipes.report_asset_materialization(
        asset_key=asset,
        metadata={
            "writer": writer,
            "token": pipes.get_extra("token"),
            "run_id": pipes.run_id,
            "asset_keys": ",".join(pipes.asset_keys),
        },
    )
    pipes.report_asset_check(
        check_name="positive", passed=True, asset_key=asset, metadata={"rows": 3 + writer}
    )
"""

# Echoes a context value larger than one DBFS call carries (1 MB) as a log message.
ECHO_SCRIPT = """
from brickpipes_remote import open_pipes

with open_pipes() as pipes:
    big = pipes.get_extra("big")
    pipes.log.info("remote: " + big)
    pipes.report_asset_materialization(asset_key="orders", metadata={"size": len(big)})
    pipes.report_asset_check(check_name="positive", passed=True, asset_key="orders")
"""

# Reports, then dies without closing Pipes: the writer never uploads its buffered chunk.
UNCLOSED_SCRIPT = """
import os
from brickpipes_remote import open_pipes

pipes = open_pipes()
pipes.log.info("remote: about to die")
os._exit(0)
"""


@pytest.fixture(scope="module")
def server() -> Iterator[LocalDatabricks]:
    with LocalDatabricks(volumes=[VOLUME], require_volumes=True) as ld:
        yield ld


@pytest.fixture
def client(server: LocalDatabricks) -> Iterator[WorkspaceClient]:
    yield WorkspaceClient(
        config=Config(
            host=server.url, token=server.token, auth_type="pat", retry_timeout_seconds=10
        )
    )
    server.clear_faults()


def upload_remote(client: WorkspaceClient, script: str) -> str:
    """Upload ``script`` and brickpipes_remote.py into a new workspace folder; the script's path."""
    folder = f"/Shared/brickpipes-tests/{uuid.uuid4().hex}"
    client.workspace.mkdirs(folder)
    client.workspace.upload(
        f"{folder}/brickpipes_remote.py", REMOTE_HELPER.read_bytes(), format=ImportFormat.AUTO
    )
    client.workspace.upload(f"{folder}/remote.py", script.encode(), format=ImportFormat.AUTO)
    return f"{folder}/remote.py"


def run_remote(
    client: WorkspaceClient, python_file: str, per_writer_args: Sequence[Mapping[str, str]]
) -> jobs.Run:
    """One run, one task per writer with that writer's bootstrap arguments; waits for its end."""
    tasks = [
        jobs.SubmitTask(
            task_key=f"writer_{i}",
            spark_python_task=jobs.SparkPythonTask(
                python_file=python_file,
                parameters=[*(x for kv in args.items() for x in kv), "--writer", str(i)],
            ),
            new_cluster=compute.ClusterSpec(
                spark_version="15.4.x-scala2.12", node_type_id="i3.xlarge", num_workers=0
            ),
        )
        for i, args in enumerate(per_writer_args)
    ]
    run_id = client.jobs.submit(run_name="brickpipes-transport-test", tasks=tasks).run_id
    assert run_id is not None
    while True:
        run = client.jobs.get_run(run_id)
        state = run.state.life_cycle_state if run.state else None
        if state in (jobs.RunLifeCycleState.TERMINATED, jobs.RunLifeCycleState.INTERNAL_ERROR):
            return run
        time.sleep(0.05)


@dataclass
class Outcome:
    """What a materialization saw: results, logs, the session's params and its closing time."""

    result: dg.ExecuteInProcessResult
    logs: list[str]
    context_params: Mapping[str, Any] = field(default_factory=dict)
    message_params: Mapping[str, Any] = field(default_factory=dict)
    close_seconds: float = 0.0
    remote_run: jobs.Run | None = None

    def materializations(self) -> dict[str, Mapping[str, Any]]:
        return {
            event.materialization.asset_key.to_user_string(): {
                k: v.value for k, v in event.materialization.metadata.items()
            }
            for event in self.result.get_asset_materialization_events()
        }

    def checks(self) -> dict[str, tuple[bool, Mapping[str, Any]]]:
        return {
            evaluation.asset_key.to_user_string(): (
                evaluation.passed,
                {k: v.value for k, v in evaluation.metadata.items()},
            )
            for evaluation in self.result.get_asset_check_evaluations()
        }

    def writer_params(self) -> list[Mapping[str, Any]]:
        return self.message_params.get("dagster_pipes_composite_writers", [self.message_params])


def materialize(
    client: WorkspaceClient,
    transport: Transport,
    launch: Callable[[dg.PipesSession], jobs.Run | None],
    *,
    assets: Sequence[str] = ("orders",),
    interval: float = FAST,
    include_stdio_in_messages: bool = False,
    late_messages_seconds: float = 10.0,
    extras: Mapping[str, Any] | None = None,
) -> Outcome:
    """Materialize ``assets`` (each with a check ``positive``) through one Pipes session."""
    injector, reader = open_transport(
        client,
        transport,
        volume_path=VOLUME,
        writers=len(assets),
        interval=interval,
        include_stdio_in_messages=include_stdio_in_messages,
        late_messages_seconds=late_messages_seconds,
    )
    seen: dict[str, Any] = {}

    @dg.multi_asset(
        specs=[dg.AssetSpec(key) for key in assets],
        check_specs=[dg.AssetCheckSpec("positive", asset=key) for key in assets],
    )
    def remote_assets(context: dg.AssetExecutionContext):
        all_extras = {"assets": list(assets), "token": "tok-123", **(extras or {})}
        with dg.open_pipes_session(context, injector, reader, extras=all_extras) as session:
            seen["remote_run"] = launch(session)
            seen["context_params"] = session.context_injector_params
            seen["message_params"] = session.message_reader_params
            closing = time.monotonic()
        seen["close_seconds"] = time.monotonic() - closing
        yield from session.get_results()

    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([remote_assets], instance=instance, raise_on_error=False)
    logs = [entry.user_message for entry in instance.all_logs(result.run_id)]
    return Outcome(result, logs, **seen)


def remote_launcher(client: WorkspaceClient, script: str) -> Callable[[dg.PipesSession], jobs.Run]:
    python_file = upload_remote(client, script)
    return lambda session: run_remote(
        client, python_file, session.get_per_writer_bootstrap_cli_arguments()
    )


def exists(client: WorkspaceClient, transport: Transport, path: str) -> bool:
    try:
        if transport == "volumes":
            client.files.get_directory_metadata(path)
        else:
            client.dbfs.get_status(path)
    except NotFound:
        return False
    return True


TRANSPORTS: list[Transport] = ["volumes", "dbfs"]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_context_reaches_the_remote_and_its_reports_come_back(
    client: WorkspaceClient, transport: Transport
) -> None:
    outcome = materialize(client, transport, remote_launcher(client, REPORTING_SCRIPT))

    assert outcome.result.success
    expected = {"writer": 0, "token": "tok-123", "run_id": outcome.result.run_id}
    assert outcome.materializations() == {"orders": {**expected, "asset_keys": "orders"}}
    assert outcome.checks() == {"orders": (True, {"rows": 3})}
    assert "remote: hello from writer 0" in outcome.logs
    assert not [m for m in outcome.logs if "did not receive" in m]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_params_name_the_transport_for_the_remote_side(
    client: WorkspaceClient, transport: Transport
) -> None:
    outcome = materialize(client, transport, remote_launcher(client, REPORTING_SCRIPT))

    assert outcome.context_params["transport"] == transport
    assert outcome.context_params["path"].endswith("/context.json")
    assert outcome.message_params["transport"] == transport
    assert outcome.message_params["include_stdio_in_messages"] is False


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_context_and_a_chunk_larger_than_one_api_call_arrive_whole(
    client: WorkspaceClient, transport: Transport
) -> None:
    big = "".join(f"{i:07d}" for i in range(200_000))  # 1.4 MB
    outcome = materialize(
        client, transport, remote_launcher(client, ECHO_SCRIPT), extras={"big": big}
    )

    assert outcome.result.success
    assert outcome.materializations() == {"orders": {"size": len(big)}}
    assert f"remote: {big}" in outcome.logs


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_several_writers_report_through_the_composite_reader(
    client: WorkspaceClient, transport: Transport
) -> None:
    assets = ("east", "west", "north")
    outcome = materialize(
        client, transport, remote_launcher(client, REPORTING_SCRIPT), assets=assets
    )

    assert outcome.result.success
    assert {k: v["writer"] for k, v in outcome.materializations().items()} == {
        "east": 0,
        "west": 1,
        "north": 2,
    }
    assert outcome.checks() == {
        "east": (True, {"rows": 3}),
        "west": (True, {"rows": 4}),
        "north": (True, {"rows": 5}),
    }
    assert {f"remote: hello from writer {i}" for i in range(3)} <= set(outcome.logs)
    assert len({p["path"] for p in outcome.writer_params()}) == 3


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("include_stdio", [True, False])
def test_remote_stdio_is_forwarded_only_when_asked(
    client: WorkspaceClient,
    transport: Transport,
    include_stdio: bool,
    capfd: pytest.CaptureFixture[str],
) -> None:
    outcome = materialize(
        client,
        transport,
        remote_launcher(client, REPORTING_SCRIPT),
        include_stdio_in_messages=include_stdio,
    )

    out, err = capfd.readouterr()
    assert outcome.result.success
    assert ("remote stdout of writer 0" in out) is include_stdio
    assert ("remote stderr of writer 0" in err) is include_stdio
    # dagster-pipes' stdio capture announces itself on the remote stderr; that bookkeeping is
    # not forwarded, so the remote's own output (and its error) comes first.
    assert "LogWriterChannel" not in out + err


def test_the_stdio_captures_own_lines_are_not_forwarded() -> None:
    from brickpipes.transport import _parse

    def stream(text: str) -> str:
        params = {"stream": "stderr", "text": text, "extras": {}}
        return json.dumps(
            {"__dagster_pipes_version": "0.1", "method": "log_external_stream", "params": params}
        )

    mixed = _parse(stream("Starting PipesDefaultLogWriterChannel\nTraceback (most recent...\n"))
    assert mixed["params"]["text"] == "Traceback (most recent...\n"
    assert _parse(stream("Stopped PipesDefaultLogWriterChannel\n")) is None
    own = stream("Starting my job\n")
    assert _parse(own) == json.loads(own)  # the remote's own lines, even look-alikes, stay


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_run_that_never_closes_pipes_is_given_up_after_the_late_window(
    client: WorkspaceClient, transport: Transport
) -> None:
    outcome = materialize(
        client, transport, remote_launcher(client, UNCLOSED_SCRIPT), late_messages_seconds=1.0
    )

    assert outcome.remote_run is not None
    assert outcome.close_seconds >= 1.0  # it kept reading for the late window...
    assert outcome.close_seconds < 6.0  # ...and gave up then, not after upstream's 10 s
    assert any("read no messages" in m for m in outcome.logs)
    assert "remote: about to die" not in outcome.logs


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_chunk_written_after_the_session_closed_is_still_read(
    client: WorkspaceClient, transport: Transport
) -> None:
    def write_late_chunk(session: dg.PipesSession) -> None:
        path = f"{session.message_reader_params['path']}/1.json"
        chunk = "\n".join(
            json.dumps({dp.PIPES_PROTOCOL_VERSION_FIELD: dp.PIPES_PROTOCOL_VERSION, **message})
            for message in (
                {"method": "opened", "params": {}},
                {"method": "log", "params": {"message": "remote: late", "level": "INFO"}},
                {"method": "closed", "params": {}},
            )
        ).encode()

        def write() -> None:
            time.sleep(0.5)  # the session has closed by now
            if transport == "volumes":
                client.files.upload(path, io.BytesIO(chunk), overwrite=True)
            else:
                client.dbfs.put(path, contents=base64.b64encode(chunk).decode(), overwrite=True)

        threading.Thread(target=write).start()

    outcome = materialize(client, transport, write_late_chunk, late_messages_seconds=30.0)

    assert "remote: late" in outcome.logs
    assert outcome.close_seconds < 30.0  # it stopped at the "closed" message
    assert not [m for m in outcome.logs if "did not receive" in m]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_the_session_temp_files_are_deleted(client: WorkspaceClient, transport: Transport) -> None:
    outcome = materialize(
        client, transport, remote_launcher(client, REPORTING_SCRIPT), assets=("a", "b")
    )

    assert outcome.result.success
    context_dir = outcome.context_params["path"].rsplit("/", 1)[0]
    paths = [context_dir, *(p["path"] for p in outcome.writer_params())]
    assert len(paths) == 3
    assert [p for p in paths if exists(client, transport, p)] == []


DELETES = {"volumes": ("DELETE", r"/api/2\.0/fs/"), "dbfs": ("POST", r"/api/2\.0/dbfs/delete")}


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_failed_temp_file_delete_does_not_hide_the_step_failure(
    server: LocalDatabricks, client: WorkspaceClient, transport: Transport
) -> None:
    server.inject_fault(*DELETES[transport], 500, times=-1)

    def fail(session: dg.PipesSession) -> None:
        raise RuntimeError("the step's own failure")

    outcome = materialize(client, transport, fail, late_messages_seconds=0.0)

    failure = outcome.result.get_step_failure_events()[0].step_failure_data.error
    assert failure is not None
    assert "the step's own failure" in str(failure.to_string())
    assert any("Could not delete the temporary" in m for m in outcome.logs)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_failed_temp_file_delete_does_not_fail_a_successful_step(
    server: LocalDatabricks, client: WorkspaceClient, transport: Transport
) -> None:
    launch = remote_launcher(client, REPORTING_SCRIPT)
    server.inject_fault(*DELETES[transport], 500, times=-1)

    outcome = materialize(client, transport, launch)

    assert outcome.result.success
    assert outcome.checks() == {"orders": (True, {"rows": 3})}
    assert any("Could not delete the temporary" in m for m in outcome.logs)


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("writers", [1, 3])
def test_the_last_messages_are_read_right_after_the_session_closes_not_an_interval_later(
    client: WorkspaceClient, transport: Transport, writers: int
) -> None:
    assets = ("east", "west", "north")[:writers]
    outcome = materialize(
        client, transport, remote_launcher(client, REPORTING_SCRIPT), assets=assets, interval=5.0
    )

    assert outcome.result.success
    assert set(outcome.checks()) == set(assets)  # read at the close: the run took under 5 s
    assert outcome.close_seconds < 2.0  # an interval is 5 s


def test_open_transport_rejects_an_unknown_transport(client: WorkspaceClient) -> None:
    with pytest.raises(ValueError, match="'volumes' or 'dbfs'"):
        open_transport(client, "s3", volume_path=VOLUME)  # type: ignore[arg-type]


def test_the_remote_helper_refuses_params_without_a_transport(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from brickpipes_remote import open_pipes

    params = {"DAGSTER_PIPES_CONTEXT": {"path": f"{VOLUME}/tmp/x/context.json"}}
    monkeypatch.setenv("DAGSTER_PIPES_CONTEXT", dp.encode_param(params["DAGSTER_PIPES_CONTEXT"]))
    monkeypatch.setenv("DAGSTER_PIPES_MESSAGES", dp.encode_param({"path": f"{VOLUME}/tmp/y"}))

    with pytest.raises(dp.DagsterPipesError, match="'transport': 'volumes' or 'dbfs'"):
        open_pipes(dp.PipesEnvVarParamsLoader())
