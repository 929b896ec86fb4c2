"""Local Databricks figures, measured inside a generated project (run by benchmarks/bench.py
with the project's own interpreter, from the project root). Prints one JSON object.

- start: seconds until ``LocalDatabricks.start()`` returns, and until the CLI prints its URL,
  vs starting a bare ``ThreadingHTTPServer`` / spawning ``python -c pass``.
- trivial_run: wall time of a Pipes asset whose remote script does nothing, end to end through
  local Databricks with the test intervals, vs the same script through Dagster's own
  ``PipesSubprocessClient`` (no Databricks at all).
- calls: the API calls one trivial run makes, by kind.
- long_run: a remote run of BENCH_LONG_SECONDS (60) through the project's runner with its
  production defaults vs a plain ``PipesDatabricksClient`` with upstream's defaults: API calls
  by kind, and the delay from the remote process ending to the step ending. Both clients poll
  on timers, so one run's delay depends on where its end falls between two polls: each client
  runs BENCH_LONG_SAMPLES (3) times, each run PHASE_STEP_SECONDS longer than the one before,
  with its delay and calls reported (bench.py adds their median, mean and sum).
- shared_cluster: with a fixed cold start D (BENCH_COLD_START, 5 s), the three ``order_rollups``
  assets materialized together (one run, one job cluster) vs one by one.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import dagster._core.pipes.utils as pipes_utils
from local_databricks import LocalDatabricks
from local_databricks.project import (
    FAST_READER,
    ProjectSettings,
    call_summary,
    fast_resources,
    project_environment,
    select_assets,
    use_fast_reader,
)

DAGSTER_READER = {name: getattr(pipes_utils, name) for name in FAST_READER}
SETTINGS = ProjectSettings.from_pyproject("pyproject.toml")  # run from the project root

DEFINITIONS = __import__(f"{os.environ['BENCH_PACKAGE']}.definitions", fromlist=["defs"])
PIPES_MODULE = __import__(f"{os.environ['BENCH_PACKAGE']}.databricks.pipes", fromlist=["x"])
UPLOADS = __import__(f"{os.environ['BENCH_PACKAGE']}.databricks.uploads", fromlist=["x"])
PROJECT_REMOTE_DIR = PIPES_MODULE.REMOTE_DIR  # the benchmarks below swap in their own scripts
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


def bench_trivial_run(work: Path, repeat: int) -> dict[str, object]:
    remote = work / "remote"
    remote.mkdir()
    (remote / "trivial.py").write_text(TRIVIAL)
    PIPES_MODULE.REMOTE_DIR = remote
    resources = fast_resources(DEFINITIONS.defs())

    @dg.asset
    def trivial(
        context: dg.AssetExecutionContext, databricks_pipes: PIPES_MODULE.DatabricksPipes
    ) -> dg.MaterializeResult:
        return databricks_pipes.run(context, "trivial.py").get_materialize_result()

    local_script = work / "subprocess_trivial.py"
    local_script.write_text(SUBPROCESS_TRIVIAL)

    @dg.asset
    def trivial_subprocess(
        context: dg.AssetExecutionContext, pipes_subprocess_client: dg.PipesSubprocessClient
    ) -> dg.MaterializeResult:
        return pipes_subprocess_client.run(
            command=[sys.executable, str(local_script)], context=context
        ).get_materialize_result()

    with LocalDatabricks(root=work / "server") as server:
        os.environ.update(project_environment(server, SETTINGS, work))
        use_fast_reader()  # the test intervals; the long run below restores Dagster's own

        def via_databricks() -> None:
            assert dg.materialize([trivial], resources=resources).success

        via_databricks()  # warm-up: imports dagster_databricks (and pyspark) once
        server.clear_calls()
        via_databricks()
        calls = call_summary(server)
        samples = timed(via_databricks, repeat)

    def via_subprocess() -> None:
        client = dg.PipesSubprocessClient()
        result = dg.materialize([trivial_subprocess], resources={"pipes_subprocess_client": client})
        assert result.success

    via_subprocess()
    baseline = timed(via_subprocess, repeat)
    return {
        "trivial_run_s": median(samples),
        "subprocess_run_s": median(baseline),
        "calls": calls,
    }


def bench_long_run(work: Path, seconds: int, samples: int) -> dict[str, object]:
    """The runner (production defaults) vs plain PipesDatabricksClient (upstream defaults)."""
    for name, value in DAGSTER_READER.items():  # production: Dagster's own reader waits
        setattr(pipes_utils, name, value)
    from dagster_databricks.pipes import (
        PipesDatabricksClient,
        PipesUnityCatalogVolumesContextInjector,
        PipesUnityCatalogVolumesMessageReader,
    )
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.service import jobs

    remote = work / "long"
    remote.mkdir()
    (remote / "long.py").write_text(LONG)
    PIPES_MODULE.REMOTE_DIR = remote
    runner = DEFINITIONS.defs().resources["databricks_pipes"]  # production settings
    lengths = [round(seconds + PHASE_STEP_SECONDS * n, 1) for n in range(samples)]
    figures: dict[str, object] = {"long_run_lengths_s": lengths}

    def measure(name: str, run, resources: dict) -> None:
        sample: dict[str, object] = {}  # this sample's extras, then the time its step ended

        @dg.asset(name=f"long_{name}")
        def long_asset(
            context: dg.AssetExecutionContext, databricks_pipes: PIPES_MODULE.DatabricksPipes
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

    with LocalDatabricks(root=work / "long-server") as server:
        os.environ.update(project_environment(server, SETTINGS, work))
        client = WorkspaceClient(host=server.url, token=server.token)
        python_file = UPLOADS.upload_file(client, remote / "long.py", runner.code_path)
        volume = runner.volume_path or "/Volumes/main/bench/pipes"

        def plain() -> PipesDatabricksClient:
            # A new client per run, like the runner: a message reader counts chunks across runs.
            return PipesDatabricksClient(
                client=client,
                context_injector=PipesUnityCatalogVolumesContextInjector(
                    client=client, volume_path=volume
                ),
                message_reader=PipesUnityCatalogVolumesMessageReader(
                    client=client, volume_path=volume
                ),
            )

        task = jobs.SubmitTask.from_dict(
            {
                "task_key": "long",
                "new_cluster": {"spark_version": "16.4.x-scala2.12", "num_workers": 0},
                "spark_python_task": {"python_file": python_file},
            }
        )
        resources = {"databricks_pipes": runner}
        measure(
            "plain",
            lambda context, _, extras: plain().run(context=context, task=task, extras=extras),
            resources,
        )
        measure(
            "runner",
            lambda context, databricks_pipes, extras: databricks_pipes.run(
                context, "long.py", extras=extras
            ),
            resources,
        )
    return figures


def bench_shared_cluster(work: Path, cold_start: float) -> dict[str, object]:
    """Wall time of the rollups together (one cluster start) vs one by one (one start each)."""
    rollups = __import__(
        f"{os.environ['BENCH_PACKAGE']}.defs.examples.order_rollups", fromlist=["ROLLUPS"]
    ).ROLLUPS
    PIPES_MODULE.REMOTE_DIR = PROJECT_REMOTE_DIR
    use_fast_reader()
    definitions = DEFINITIONS.defs()
    resources = fast_resources(definitions)
    with LocalDatabricks(root=work / "shared-server") as server:
        os.environ.update(project_environment(server, SETTINGS, work))
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
