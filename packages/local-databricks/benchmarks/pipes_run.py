"""Where the time of a trivial Pipes run through local-databricks goes (a benchmark, not a test).

    python benchmarks/pipes_run.py [--repeat 5]

needs dagster and dagster-databricks (run it with a generated project's interpreter, as
benchmarks/bench.py does) and prints one JSON line. A Pipes asset whose remote script only reports
a materialization runs through upstream's `PipesDatabricksClient` with the test intervals
(`poll_interval_seconds=0.2`, a volumes message reader with `interval=0.2` and
`include_stdio_in_messages=False`, Dagster's reader waits shortened: `FAST_READER`). Each
figure is a median:

- `trivial_run_s`: `dg.materialize` of that asset, end to end;
- `subprocess_run_s`: the same script through Dagster's `PipesSubprocessClient` (the floor:
  Dagster's own Pipes overhead and one Python process);
- the phases of the run as the server saw them: `until_process_s` (runs/submit until the task
  process started), `process_s` (the task process), `until_terminated_s` (process exit until the
  run was TERMINATED) and `client_after_end_s` (run end until `materialize` returned: the
  client's last poll and its message reader's last reads);
- `python_spawn_s`: `python -c pass` with the task environment's shim, and `pipes_import_s`:
  `python -c "import dagster_pipes"` the same way (the task process' fixed cost).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

try:
    from local_databricks import LocalDatabricks
except ImportError:  # running from a checkout without the package installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from local_databricks import LocalDatabricks

VOLUME = "/Volumes/main/bench/pipes"
SCRIPT = "/Volumes/main/bench/pipes/trivial.py"
TRIVIAL = """
import sys
from dagster_pipes import (PipesCliArgsParamsLoader, PipesEnvVarParamsLoader, open_dagster_pipes,
    PipesUnityCatalogVolumesContextLoader, PipesUnityCatalogVolumesMessageWriter)
cli = "--dagster-pipes-context" in sys.argv
with open_dagster_pipes(
    context_loader=PipesUnityCatalogVolumesContextLoader(),
    message_writer=PipesUnityCatalogVolumesMessageWriter(interval=0.2),
    params_loader=PipesCliArgsParamsLoader() if cli else PipesEnvVarParamsLoader(),
) as pipes:
    pipes.report_asset_materialization(metadata={"rows": 1})
"""
# Upstream's message readers wait on these (seconds, in dagster._core.pipes.utils) between reads
# and after the run; shortened here as for the other test intervals.
FAST_READER = {"DEFAULT_SLEEP_INTERVAL": 0.2, "WAIT_FOR_LOGS_AFTER_EXECUTION_INTERVAL": 1}
SUBPROCESS_TRIVIAL = """
from dagster_pipes import open_dagster_pipes
with open_dagster_pipes() as pipes:
    pipes.report_asset_materialization(metadata={"rows": 1})
"""


def _median(samples: list[float]) -> float:
    return round(statistics.median(samples), 3)


def measure(repeat: int = 5) -> dict[str, float]:
    """The figures above, each the median of `repeat` runs after one warm-up run."""
    import dagster as dg
    import dagster._core.pipes.utils as pipes_utils
    from dagster_databricks import PipesDatabricksClient
    from dagster_databricks.pipes import (
        PipesUnityCatalogVolumesContextInjector,
        PipesUnityCatalogVolumesMessageReader,
    )
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.core import Config
    from databricks.sdk.service import jobs

    for name, value in FAST_READER.items():
        setattr(pipes_utils, name, value)
    samples: dict[str, list[float]] = {
        k: []
        for k in (
            "trivial_run_s",
            "subprocess_run_s",
            "until_process_s",
            "process_s",
            "until_terminated_s",
            "client_after_end_s",
            "python_spawn_s",
            "pipes_import_s",
        )
    }
    with (
        tempfile.TemporaryDirectory(prefix="ld-pipes-bench-") as tmp,
        LocalDatabricks(root=Path(tmp) / "server", volumes=[VOLUME]) as server,
    ):
        (server.root / "Volumes" / SCRIPT[len("/Volumes/") :]).write_text(TRIVIAL)
        local_script = Path(tmp) / "subprocess_trivial.py"
        local_script.write_text(SUBPROCESS_TRIVIAL)
        w = WorkspaceClient(
            config=Config(host=server.url, token=server.token, retry_timeout_seconds=10)
        )
        task = jobs.SubmitTask.from_dict(
            {
                "task_key": "trivial",
                "new_cluster": {"spark_version": "16.4.x-scala2.12", "num_workers": 0},
                "spark_python_task": {"python_file": SCRIPT},
            }
        )

        @dg.asset
        def trivial(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
            client = PipesDatabricksClient(
                client=w,
                context_injector=PipesUnityCatalogVolumesContextInjector(
                    client=w, volume_path=VOLUME
                ),
                # stdio in messages (upstream's default here) costs seconds at the remote's exit:
                # dagster-pipes waits 1 s per captured stream and reads them once a second
                message_reader=PipesUnityCatalogVolumesMessageReader(
                    client=w, volume_path=VOLUME, interval=0.2, include_stdio_in_messages=False
                ),
                poll_interval_seconds=0.2,
            )
            return client.run(task=task, context=context).get_materialize_result()

        @dg.asset
        def trivial_subprocess(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
            return (
                dg.PipesSubprocessClient()
                .run(command=[sys.executable, str(local_script)], context=context)
                .get_materialize_result()
            )

        shim_env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                [str(server.root / "shim"), *filter(None, [os.environ.get("PYTHONPATH")])]
            ),
        }
        for index in range(repeat + 1):
            started = time.time()
            assert dg.materialize([trivial]).success
            returned = time.time()
            run = server.runs()[0]
            assert dg.materialize([trivial_subprocess]).success
            subprocess_s = time.time() - returned
            spawn_started = time.perf_counter()
            subprocess.run([sys.executable, "-c", "pass"], env=shim_env, check=True)
            spawn_s = time.perf_counter() - spawn_started
            import_started = time.perf_counter()
            subprocess.run([sys.executable, "-c", "import dagster_pipes"], env=shim_env, check=True)
            import_s = time.perf_counter() - import_started
            if index == 0:
                continue  # warm-up: first imports of dagster_databricks and the SDK
            task_run = run["tasks"][0]
            setup = task_run.get("setup_duration", 0) / 1000
            execution = task_run.get("execution_duration", 0) / 1000
            samples["trivial_run_s"].append(returned - started)
            samples["subprocess_run_s"].append(subprocess_s)
            samples["until_process_s"].append(run["start_time"] / 1000 - started + setup)
            samples["process_s"].append(execution)
            samples["until_terminated_s"].append(
                run["end_time"] / 1000 - run["start_time"] / 1000 - setup - execution
            )
            samples["client_after_end_s"].append(returned - run["end_time"] / 1000)
            samples["python_spawn_s"].append(spawn_s)
            samples["pipes_import_s"].append(import_s)
    return {name: _median(values) for name, values in samples.items()}


def main() -> None:
    """Print `measure()` as one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(json.dumps(measure(args.repeat)))


if __name__ == "__main__":
    main()
