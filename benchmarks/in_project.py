"""Local Databricks figures, measured inside a generated project (run by benchmarks/bench.py
with the project's own interpreter, from the project root). Prints one JSON object.

- start: seconds until ``LocalDatabricks.start()`` returns, and until the CLI prints its URL,
  vs starting a bare ``ThreadingHTTPServer`` / spawning ``python -c pass``.
- trivial_run: wall time of a Pipes asset whose remote script does nothing, end to end through
  local Databricks with the test intervals, vs the same script through Dagster's own
  ``PipesSubprocessClient`` (no Databricks at all).
- calls: the API calls one trivial run makes, by kind.
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
from local_databricks import LocalDatabricks

sys.path.insert(0, "scripts")
from run_local import call_summary, fast_resources, local_environment

DEFINITIONS = __import__(f"{os.environ['BENCH_PACKAGE']}.definitions", fromlist=["defs"])
PIPES_MODULE = __import__(f"{os.environ['BENCH_PACKAGE']}.databricks.pipes", fromlist=["x"])
TRIVIAL = """
import sys
from dagster_pipes import (PipesCliArgsParamsLoader, PipesEnvVarParamsLoader, open_dagster_pipes,
    PipesUnityCatalogVolumesContextLoader, PipesUnityCatalogVolumesMessageWriter)
cli = "--dagster-pipes-context" in sys.argv
with open_dagster_pipes(
    context_loader=PipesUnityCatalogVolumesContextLoader(),
    message_writer=PipesUnityCatalogVolumesMessageWriter(),
    params_loader=PipesCliArgsParamsLoader() if cli else PipesEnvVarParamsLoader(),
) as pipes:
    pipes.report_asset_materialization(metadata={"rows": 1})
"""
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
        thread = threading.Thread(target=server.serve_forever, daemon=True)
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
        context: dg.AssetExecutionContext, pipes_databricks: PIPES_MODULE.DatabricksPipes
    ) -> dg.MaterializeResult:
        return pipes_databricks.run(context, "trivial.py").get_materialize_result()

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
        os.environ.update(local_environment(server, work))

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


def main() -> None:
    repeat = int(os.environ.get("BENCH_REPEAT", "5"))
    for name in [n for n in os.environ if n.startswith(("DATABRICKS_", "ARM_"))]:
        del os.environ[name]
    with tempfile.TemporaryDirectory(prefix="bench-ld-") as tmp:
        work = Path(tmp)
        figures: dict[str, object] = bench_start(work, repeat)
        figures.update(bench_trivial_run(work, max(3, repeat // 2)))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
