"""Local Databricks figures, measured inside a generated project (run by benchmarks/bench.py
with the project's own interpreter, from the project root). Prints one JSON object.

- start: seconds until ``LocalDatabricks.start()`` returns, and until the CLI prints its URL,
  vs starting a bare ``ThreadingHTTPServer`` / spawning ``python -c pass``.
- trivial_run: wall time of a Pipes asset whose remote script does nothing, end to end through
  local Databricks with the test intervals (``brickpipes.testing.fast_resources``), vs the same
  script through Dagster's own ``PipesSubprocessClient`` (no Databricks at all), and through
  upstream's ``PipesDatabricksClient`` with the same intervals (Dagster's reader waits
  shortened: :data:`FAST_READER`).
- calls: the API calls one trivial run makes, by kind (runner and plain client).
- long_run: a remote run of BENCH_LONG_SECONDS (60) through the project's runner with its
  production defaults vs a plain ``PipesDatabricksClient`` with upstream's defaults: API calls
  by kind, and the delay from the remote process ending to the step ending. Both clients poll
  on timers, so one run's delay depends on where its end falls between two polls: each client
  runs BENCH_LONG_SAMPLES (3) times, each run PHASE_STEP_SECONDS longer than the one before,
  with its delay and calls reported (bench.py adds their median, mean and sum).
- shared_cluster: with a fixed cold start D (BENCH_COLD_START, 5 s), the three ``order_rollups``
  assets materialized together (one run, one job cluster) vs one by one.

The project's resources come from ``<BENCH_PACKAGE>.definitions.defs()``; a benchmark with
scripts of its own rebuilds the ``databricks_pipes`` resource with another ``remote_dir``. The
plain client is ``dagster_databricks.PipesDatabricksClient`` (bench.py installs
dagster-databricks into the project's environment for it: projects no longer depend on it).
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import dagster as dg
import dagster._core.pipes.utils as pipes_utils
from brickpipes import DatabricksPipes
from brickpipes.testing import (
    LocalSettings,
    activate,
    fast_resources,
    local_environment,
    select_assets,
)
from brickpipes.uploads import upload_script
from local_databricks import LocalDatabricks
from local_databricks.project import ProjectSettings, call_summary, create_volumes

# Upstream's message readers wait on these (seconds) between reads and after the run: the plain
# client runs with them shortened for test intervals, with Dagster's own for production ones.
FAST_READER = {"DEFAULT_SLEEP_INTERVAL": 0.2, "WAIT_FOR_LOGS_AFTER_EXECUTION_INTERVAL": 1}
DAGSTER_READER = {name: getattr(pipes_utils, name) for name in FAST_READER}
# Run from the project root: how it authenticates and computes, and the volumes it needs.
SETTINGS = LocalSettings.from_pyproject("pyproject.toml")
SERVER_SETTINGS = ProjectSettings.from_pyproject("pyproject.toml")
DEFINITIONS = __import__(f"{os.environ['BENCH_PACKAGE']}.definitions", fromlist=["defs"])
# The plain client's Pipes volume if the project's runner uses DBFS (no volume of its own).
BENCH_VOLUME = "/Volumes/main/bench/pipes"
# The opening every remote script of the benchmarks shares (volumes transport, any compute).
OPEN_PIPES = """
import sys, time
from dagster_pipes import (PipesCliArgsParamsLoader, PipesEnvVarParamsLoader, open_dagster_pipes,
    PipesUnityCatalogVolumesContextLoader, PipesUnityCatalogVolumesMessageWriter)
cli = "--dagster-pipes-context" in sys.argv
with open_dagster_pipes(
    context_loader=PipesUnityCatalogVolumesContextLoader(),
    message_writer=PipesUnityCatalogVolumesMessageWriter(),
    params_loader=PipesCliArgsParamsLoader() if cli else PipesEnvVarParamsLoader(),
) as pipes:
"""
TRIVIAL = (
    OPEN_PIPES
    + """    pipes.report_asset_materialization(metadata={"rows": 1})
"""
)
LONG = (
    OPEN_PIPES
    + """    seconds = float(pipes.get_extra("seconds"))
    for second in range(int(seconds)):
        print(f"working: {second} s", flush=True)
        time.sleep(1)
    time.sleep(seconds - int(seconds))
    pipes.report_asset_materialization(metadata={"seconds": seconds})
    end_file = pipes.get_extra("end_file")
with open(end_file, "w") as marker:  # the last thing the process does
    marker.write(repr(time.time()))
"""
)
# Each long-run sample is this much longer than the one before: where the run's end falls
# between two polls moves by it (runner: a read every 4 s; plain client: runs/get every 5 s).
PHASE_STEP_SECONDS = 1.7
SUBPROCESS_TRIVIAL = """
from dagster_pipes import open_dagster_pipes
with open_dagster_pipes() as pipes:
    pipes.report_asset_materialization(metadata={"rows": 1})
"""


def median(samples: list[float]) -> float:
    return round(statistics.median(samples), 3)


def timed(action, repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return samples


def bench_start(work: Path, repeat: int) -> dict[str, float]:
    def start_stop() -> None:
        LocalDatabricks(root=work / "start").start().stop()

    def bare_server() -> None:
        server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        server.shutdown()
        server.server_close()

    def cli_until_url() -> None:
        process = subprocess.Popen(
            [sys.executable, "-m", "local_databricks", "--port", "0", "--root", str(work / "cli")],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert process.stdout is not None
        process.stdout.readline()
        process.terminate()
        process.wait()

    def python_pass() -> None:
        subprocess.run([sys.executable, "-c", "pass"], check=True)

    return {
        "api_start_s": median(timed(start_stop, repeat)),
        "bare_server_s": median(timed(bare_server, repeat)),
        "cli_start_s": median(timed(cli_until_url, repeat)),
        "python_spawn_s": median(timed(python_pass, repeat)),
    }


def use_reader(values: dict[str, float]) -> None:
    """Set upstream's message reader waits (``dagster._core.pipes.utils``): the plain client's
    only (brickpipes' readers have intervals of their own)."""
    for name, value in values.items():
        setattr(pipes_utils, name, value)


def with_remote_dir(resources: dict[str, Any], remote: Path) -> dict[str, Any]:
    """``resources`` with ``databricks_pipes`` rebuilt to run the scripts in ``remote``."""
    runner = resources["databricks_pipes"]
    fields = {name: getattr(runner, name) for name in type(runner).model_fields}
    # A new instance, not model_copy(): Dagster rebuilds resources from their arguments.
    rebuilt = type(runner)(**{**fields, "remote_dir": str(remote)})
    return {**resources, "databricks_pipes": rebuilt}


@contextmanager
def local_server(root: Path, work: Path, volume: str = "") -> Iterator[LocalDatabricks]:
    """Local Databricks with the project's volumes (and ``volume``), this process's
    environment pointed at it as the project's tests point it (brickpipes.testing)."""
    with LocalDatabricks(root=root, require_volumes=SERVER_SETTINGS.require_volumes) as server:
        create_volumes(server, [*SERVER_SETTINGS.volumes, *filter(None, [volume])])
        env = local_environment(server, SETTINGS, work)
        os.environ.update(env)
        activate(env)
        yield server


def workspace_client(server: LocalDatabricks) -> Any:
    """An SDK client of ``server`` for the plain client (token auth, whatever the project's)."""
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.core import Config

    return WorkspaceClient(config=Config(host=server.url, token=server.token, auth_type="pat"))


def python_task(key: str, python_file: str) -> Any:
    """A one-task ``runs/submit`` of ``python_file`` on a new single-node cluster."""
    from databricks.sdk.service import jobs

    return jobs.SubmitTask.from_dict(
        {
            "task_key": key,
            "new_cluster": {"spark_version": "16.4.x-scala2.12", "num_workers": 0},
            "spark_python_task": {"python_file": python_file},
        }
    )


def plain_client(client: Any, volume: str, fast: bool) -> Any:
    """Upstream's ``PipesDatabricksClient`` over ``volume``: with the test intervals (as
    brickpipes.testing.fast_resources gives the runner: 0.2 s polls and reads, no stdio) or with
    upstream's defaults. A new one per run, like the runner: a message reader counts chunks
    across runs."""
    from dagster_databricks import PipesDatabricksClient
    from dagster_databricks.pipes import (
        PipesUnityCatalogVolumesContextInjector,
        PipesUnityCatalogVolumesMessageReader,
    )

    reader_options: dict[str, Any] = (
        {"interval": 0.2, "include_stdio_in_messages": False} if fast else {}
    )
    return PipesDatabricksClient(
        client=client,
        context_injector=PipesUnityCatalogVolumesContextInjector(client=client, volume_path=volume),
        message_reader=PipesUnityCatalogVolumesMessageReader(
            client=client, volume_path=volume, **reader_options
        ),
        **({"poll_interval_seconds": 0.2} if fast else {}),
    )


def bench_trivial_run(work: Path, repeat: int) -> dict[str, object]:
    remote = work / "remote"
    remote.mkdir()
    (remote / "trivial.py").write_text(TRIVIAL)
    resources = with_remote_dir(fast_resources(DEFINITIONS.defs()), remote)
    runner = resources["databricks_pipes"]
    volume = runner.volume_path or BENCH_VOLUME
    plain_task: dict[str, Any] = {}

    @dg.asset
    def trivial(
        context: dg.AssetExecutionContext, databricks_pipes: DatabricksPipes
    ) -> dg.MaterializeResult:
        return databricks_pipes.run(context, "trivial.py").get_materialize_result()

    @dg.asset
    def trivial_plain(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        client = plain_client(plain_task["client"], volume, fast=True)
        return client.run(context=context, task=plain_task["task"]).get_materialize_result()

    local_script = work / "subprocess_trivial.py"
    local_script.write_text(SUBPROCESS_TRIVIAL)

    @dg.asset
    def trivial_subprocess(
        context: dg.AssetExecutionContext, pipes_subprocess_client: dg.PipesSubprocessClient
    ) -> dg.MaterializeResult:
        return pipes_subprocess_client.run(
            command=[sys.executable, str(local_script)], context=context
        ).get_materialize_result()

    figures: dict[str, object] = {}
    with local_server(work / "server", work, volume) as server:
        client = workspace_client(server)
        plain_task["client"] = client
        plain_task["task"] = python_task(
            "trivial", upload_script(client, remote / "trivial.py", runner.code_path)
        )
        use_reader(FAST_READER)  # the plain client's test intervals; the long run restores them
        for name, asset, asset_resources in (
            ("trivial", trivial, resources),
            ("plain_trivial", trivial_plain, {}),
        ):

            def via_databricks(asset=asset, asset_resources=asset_resources) -> None:
                assert dg.materialize([asset], resources=asset_resources).success

            via_databricks()  # warm-up: the SDK's (and the plain client's) first imports
            server.clear_calls()
            via_databricks()
            figures[f"{name}_calls" if name != "trivial" else "calls"] = call_summary(server)
            figures[f"{name}_run_s"] = median(timed(via_databricks, repeat))

    def via_subprocess() -> None:
        client = dg.PipesSubprocessClient()
        result = dg.materialize([trivial_subprocess], resources={"pipes_subprocess_client": client})
        assert result.success

    via_subprocess()
    figures["subprocess_run_s"] = median(timed(via_subprocess, repeat))
    return figures


def bench_long_run(work: Path, seconds: int, samples: int) -> dict[str, object]:
    """The runner (production defaults) vs plain PipesDatabricksClient (upstream defaults)."""
    use_reader(DAGSTER_READER)  # production: Dagster's own reader waits
    remote = work / "long"
    remote.mkdir()
    (remote / "long.py").write_text(LONG)
    resources = with_remote_dir(DEFINITIONS.defs().resources, remote)  # production settings
    runner = resources["databricks_pipes"]
    volume = runner.volume_path or BENCH_VOLUME
    lengths = [round(seconds + PHASE_STEP_SECONDS * n, 1) for n in range(samples)]
    figures: dict[str, object] = {"long_run_lengths_s": lengths}

    def measure(name: str, run: Callable[..., Any]) -> None:
        sample: dict[str, Any] = {}  # this sample's extras, then the time its step ended

        @dg.asset(name=f"long_{name}")
        def long_asset(
            context: dg.AssetExecutionContext, databricks_pipes: DatabricksPipes
        ) -> dg.MaterializeResult:
            result = run(context, databricks_pipes, sample["extras"])
            sample["step_end"] = time.time()
            return result.get_materialize_result()

        delays, calls = [], []
        for length in lengths:
            end_file = work / f"{name}-{length}.end"
            sample["extras"] = {"seconds": length, "end_file": str(end_file)}
            server.clear_calls()
            assert dg.materialize([long_asset], resources=resources).success
            delays.append(round(sample["step_end"] - float(end_file.read_text()), 2))
            calls.append(call_summary(server))
        figures[f"{name}_end_delays_s"] = delays
        figures[f"{name}_calls"] = calls

    with local_server(work / "long-server", work, volume) as server:
        client = workspace_client(server)
        task = python_task("long", upload_script(client, remote / "long.py", runner.code_path))
        measure(
            "plain",
            lambda context, _, extras: plain_client(client, volume, fast=False).run(
                context=context, task=task, extras=extras
            ),
        )
        measure(
            "runner",
            lambda context, databricks_pipes, extras: databricks_pipes.run(
                context, "long.py", extras=extras
            ),
        )
    return figures


def bench_shared_cluster(work: Path, cold_start: float) -> dict[str, object]:
    """Wall time of the rollups together (one cluster start) vs one by one (one start each)."""
    rollups = __import__(
        f"{os.environ['BENCH_PACKAGE']}.defs.examples.order_rollups", fromlist=["ROLLUPS"]
    ).ROLLUPS
    definitions = DEFINITIONS.defs()
    resources = fast_resources(definitions)  # the project's own remote scripts
    with local_server(work / "shared-server", work) as server:
        server.set_cluster_start_seconds(cold_start)

        def materialize(keys: list[str]) -> None:
            assets = select_assets(definitions, keys)
            assert dg.materialize(assets, resources=resources, selection=keys).success

        together = timed(lambda: materialize(list(rollups)), 1)[0]
        one_by_one = sum(timed(lambda key=key: materialize([key]), 1)[0] for key in rollups)
    return {
        "cold_start_s": cold_start,
        "rollups": len(rollups),
        "together_s": round(together, 2),
        "one_by_one_s": round(one_by_one, 2),
    }


def main() -> None:
    repeat = int(os.environ.get("BENCH_REPEAT", "5"))
    for name in [n for n in os.environ if n.startswith(("DATABRICKS_", "ARM_"))]:
        del os.environ[name]
    with tempfile.TemporaryDirectory(prefix="bench-ld-") as tmp:
        work = Path(tmp)
        figures: dict[str, object] = bench_start(work, repeat)
        figures.update(bench_trivial_run(work, max(3, repeat // 2)))
        figures.update(
            bench_long_run(
                work,
                int(os.environ.get("BENCH_LONG_SECONDS", "60")),
                int(os.environ.get("BENCH_LONG_SAMPLES", "3")),
            )
        )
        figures.update(bench_shared_cluster(work, float(os.environ.get("BENCH_COLD_START", "5"))))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
