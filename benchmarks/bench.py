"""Benchmarks of the template, each reported as a ratio against a baseline measured in the
same run (absolute times vary by machine; ratios travel). Run with ``uvx nox -s bench``.

Figures:
- render: full template vs a one-file Copier template, both through the Copier CLI from a
  tagged git repository (target: at most 1.3x).
- size: files and lines of a default render vs a default render of the oldest supported
  release (releases.yml), which still vendored local-databricks into every project.
- load: importing and building the generated definitions vs ``import dagster`` (and whether
  pyspark, dagster_databricks or databricks.sdk were imported: they must not be).
- local Databricks (benchmarks/in_project.py, in the generated project): server start vs a bare
  HTTP server and a Python spawn (target: under 1 s); a trivial Pipes run end to end vs the
  same script through Dagster's PipesSubprocessClient (target: under 3 s); API calls per run.
- load (packages/local-databricks/benchmarks/load.py): 50 concurrent clients x 20 requests
  mixing runs/submit, runs/get and uploads; requests per second and errors (target: none).
- trivial Pipes run (packages/local-databricks/benchmarks/pipes_run.py): upstream's
  PipesDatabricksClient with the test intervals, end to end and by phase (target: at most 1 s;
  2.52 s before the shared-Spark/dbutils release of local-databricks).
- Spark task (packages/local-databricks/benchmarks/spark_run.py): the Spark example's shape with
  a JVM per task vs the server's shared local Spark, cold and warm (target warm: at most 6 s;
  16 s before).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from pythons import find_python
from rendering import ROOT, git, project_env, release_history, snapshot_template


def median_seconds(action: Callable[[], object], repeat: int) -> float:
    """Median wall time of ``repeat`` runs of ``action`` (after one warm-up run)."""
    action()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def copier_cli(template: Path, dst: Path, ref: str | None = None) -> None:
    """Render ``template`` (at ``ref``: default its latest tag) into a fresh ``dst`` with the
    Copier CLI, tasks skipped."""
    shutil.rmtree(dst, ignore_errors=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "copier",
            "copy",
            "--quiet",
            "--skip-tasks",
            "--defaults",
            "--data",
            "project_name=Bench Project",
            *(["--vcs-ref", ref] if ref else []),
            str(template),
            str(dst),
        ],
        check=True,
        capture_output=True,
    )


def one_file_template(root: Path) -> Path:
    """The baseline: a Copier template with one question and one rendered file."""
    root.mkdir()
    (root / "copier.yml").write_text("project_name:\n  type: str\n  default: x\n")
    (root / "README.md.jinja").write_text("# {{ project_name }}\n")
    git(root, "init", "--quiet", "--initial-branch=main")
    git(root, "add", "--all")
    git(root, "commit", "--quiet", "--message", "one file")
    git(root, "tag", "1.0.0")
    return root


def bench_render(work: Path, repeat: int) -> tuple[float, float]:
    """Seconds to render the full template and the one-file baseline."""
    full = snapshot_template(work / "full", "99.0.0")
    baseline = one_file_template(work / "baseline")
    full_s = median_seconds(lambda: copier_cli(full, work / "out-full"), repeat)
    base_s = median_seconds(lambda: copier_cli(baseline, work / "out-base"), repeat)
    return full_s, base_s


def tree_size(project: Path) -> tuple[int, int]:
    """Files and lines of a rendered project (git metadata left out)."""
    files = [p for p in project.rglob("*") if p.is_file() and ".git" not in p.parts]
    return len(files), sum(len(p.read_bytes().splitlines()) for p in files)


def bench_size(work: Path) -> tuple[tuple[int, int], tuple[int, int], str]:
    """Size of the current default render vs the oldest release's, and that release."""
    import yaml

    oldest = yaml.safe_load((ROOT / "releases.yml").read_text())[0]
    history = release_history(work / "history", [oldest], "99.0.0")
    copier_cli(history, work / "out-oldest", ref=oldest["version"])
    return tree_size(work / "out-full"), tree_size(work / "out-oldest"), oldest["version"]


def project_python(work: Path) -> tuple[Path, dict[str, str]]:
    """The rendered defaults project (synced) and the environment to run commands in it."""
    project = work / "out-full"
    python = find_python("3.12")
    if python is None:
        raise SystemExit("bench: Python 3.12 (the default python_version) is not installed")
    env = project_env(python)
    subprocess.run(["uv", "sync", "--quiet"], cwd=project, env=env, check=True)
    return project, env


def bench_local_databricks(work: Path, repeat: int) -> dict:
    """Figures of benchmarks/in_project.py, run with the generated project's interpreter."""
    project, env = project_python(work)
    script = Path(__file__).with_name("in_project.py")
    result = subprocess.run(
        [str(project / ".venv" / "bin" / "python"), str(script)],
        cwd=project,
        check=True,
        env={**env, "BENCH_PACKAGE": "bench_project", "BENCH_REPEAT": str(repeat)},
        capture_output=True,
        text=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def bench_server_load(work: Path) -> dict:
    """The local-databricks load test, run with the generated project's interpreter."""
    return bench_package_script(work, "load.py")


def bench_package_script(work: Path, name: str) -> dict:
    """One JSON line of packages/local-databricks/benchmarks/<name>, in the generated project."""
    project, env = project_python(work)
    script = ROOT / "packages" / "local-databricks" / "benchmarks" / name
    result = subprocess.run(
        [str(project / ".venv" / "bin" / "python"), str(script)],
        cwd=project,
        check=True,
        env=env,
        capture_output=True,
        text=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def bench_load(work: Path, repeat: int) -> tuple[float, float, str]:
    """Seconds to load the generated definitions, to import dagster, and heavy modules seen."""
    project, env = project_python(work)
    venv_python = str(project / ".venv" / "bin" / "python")
    load = (
        "import sys; from bench_project.definitions import defs; defs(); "
        "print(','.join(m for m in ('pyspark', 'dagster_databricks', 'databricks.sdk') "
        "if m in sys.modules))"
    )

    def run(code: str) -> str:
        return subprocess.run(
            [venv_python, "-c", code],
            cwd=project,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()

    heavy = run(load)
    load_s = median_seconds(lambda: run(load), repeat)
    dagster_s = median_seconds(lambda: run("import dagster"), repeat)
    return load_s, dagster_s, heavy or "none"


def report_long_run(local: dict) -> None:
    """Print each long run's end delay and calls, then the median and mean delays and all calls."""
    lengths = local["long_run_lengths_s"]
    delays = {name: local[f"{name}_end_delays_s"] for name in ("runner", "plain")}
    calls = {name: [sum(c.values()) for c in local[f"{name}_calls"]] for name in delays}
    for n, length in enumerate(lengths):
        print(
            f"{f'{length:g} s run, end delay: runner vs plain client':<44}"
            f"{delays['runner'][n]:>9.2f}s{delays['plain'][n]:>9.2f}s"
            f"{delays['runner'][n] / delays['plain'][n]:>7.2f}x"
        )
        print(
            f"{f'{length:g} s run, API calls: runner vs plain client':<44}"
            f"{calls['runner'][n]:>10}{calls['plain'][n]:>10}"
            f"{calls['runner'][n] / calls['plain'][n]:>7.2f}x"
        )
    for label, average in (("median", statistics.median), ("mean", statistics.mean)):
        runner, plain = average(delays["runner"]), average(delays["plain"])
        print(
            f"{f'{len(lengths)} long runs, {label} end delay':<44}"
            f"{runner:>9.2f}s{plain:>9.2f}s{runner / plain:>7.2f}x   (target <= 0.33x)"
        )
    total = {name: sum(values) for name, values in calls.items()}
    print(
        f"{f'{len(lengths)} long runs, API calls':<44}"
        f"{total['runner']:>10}{total['plain']:>10}"
        f"{total['runner'] / total['plain']:>7.2f}x   (target <= 1x)"
    )
    for name in ("plain", "runner"):
        first = local[f"{name}_calls"][0]
        print(f"  {name}, {lengths[0]:g} s run: " + ", ".join(f"{k} {v}" for k, v in first.items()))


def main() -> None:
    """Run every benchmark and print its figures and ratio."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        work = Path(tmp)
        full_s, base_s = bench_render(work, args.repeat)
        size, oldest_size, oldest = bench_size(work)
        load_s, dagster_s, heavy = bench_load(work, args.repeat)
        local = bench_local_databricks(work, args.repeat)
        server_load = bench_server_load(work)
        pipes_run = bench_package_script(work, "pipes_run.py")
        spark_run = bench_package_script(work, "spark_run.py")
    print(f"\nbenchmarks (median of {args.repeat} runs, after a warm-up)")
    print(f"{'figure':<44}{'measured':>10}{'baseline':>10}{'ratio':>8}")
    print(
        f"{'render: full template vs one-file template':<44}"
        f"{full_s:>9.2f}s{base_s:>9.2f}s{full_s / base_s:>7.2f}x   (target <= 1.3x)"
    )
    print(
        f"{'render size: files, this vs ' + oldest:<44}"
        f"{size[0]:>10}{oldest_size[0]:>10}{size[0] / oldest_size[0]:>7.2f}x"
    )
    print(
        f"{'render size: lines, this vs ' + oldest:<44}"
        f"{size[1]:>10}{oldest_size[1]:>10}{size[1] / oldest_size[1]:>7.2f}x"
    )
    print(
        f"{'load: generated definitions vs import dagster':<44}"
        f"{load_s:>9.2f}s{dagster_s:>9.2f}s{load_s / dagster_s:>7.2f}x"
    )
    print(f"heavy modules imported while loading definitions: {heavy}")
    print(
        f"{'local Databricks start (API) vs bare HTTP server':<44}"
        f"{local['api_start_s']:>9.3f}s{local['bare_server_s']:>9.3f}s"
        f"{local['api_start_s'] / local['bare_server_s']:>7.1f}x   (target < 1 s)"
    )
    print(
        f"{'local Databricks start (CLI) vs python spawn':<44}"
        f"{local['cli_start_s']:>9.3f}s{local['python_spawn_s']:>9.3f}s"
        f"{local['cli_start_s'] / local['python_spawn_s']:>7.1f}x   (target < 1 s)"
    )
    print(
        f"{'trivial Pipes run: local Databricks vs subprocess':<44}"
        f"{local['trivial_run_s']:>9.2f}s{local['subprocess_run_s']:>9.2f}s"
        f"{local['trivial_run_s'] / local['subprocess_run_s']:>7.2f}x   (target < 3 s)"
    )
    calls = local["calls"]
    print(f"API calls of one trivial run: {sum(calls.values())}")
    for route, count in calls.items():
        print(f"  {count:>4}  {route}")
    print(
        f"{'local Databricks load: 50 clients x 20 requests':<44}"
        f"{server_load['requests_per_second']:>8.0f}/s{server_load['requests']:>10}"
        f"{'':>8}   errors: {server_load['errors']} (target 0)"
    )
    print(
        f"{'trivial Pipes run (plain client) vs before':<44}"
        f"{pipes_run['trivial_run_s']:>9.2f}s{2.52:>9.2f}s"
        f"{pipes_run['trivial_run_s'] / 2.52:>7.2f}x   (target <= 1 s)"
    )
    print(
        "  phases: "
        + ", ".join(
            f"{label} {pipes_run[key]:.2f}s"
            for label, key in (
                ("until process", "until_process_s"),
                ("process", "process_s"),
                ("until TERMINATED", "until_terminated_s"),
                ("client after the end", "client_after_end_s"),
                ("subprocess client", "subprocess_run_s"),
            )
        )
    )
    print(
        f"{'Spark task, shared Spark warm vs before':<44}"
        f"{spark_run['shared_warm_s']:>9.2f}s{16.0:>9.2f}s"
        f"{spark_run['shared_warm_s'] / 16.0:>7.2f}x   (target <= 6 s)"
    )
    print(
        f"{'Spark task, shared cold vs a JVM per task':<44}"
        f"{spark_run['shared_cold_s']:>9.2f}s{spark_run['per_task_s']:>9.2f}s"
        f"{spark_run['shared_cold_s'] / spark_run['per_task_s']:>7.2f}x"
    )
    report_long_run(local)
    d = local["cold_start_s"]
    print(
        f"{'rollups together vs one by one (D=' + str(d) + ' s)':<44}"
        f"{local['together_s']:>9.2f}s{local['one_by_one_s']:>9.2f}s"
        f"{local['together_s'] / local['one_by_one_s']:>7.2f}x   "
        f"(target: close to 1 D = {d} s, vs {local['rollups']} D)"
    )


if __name__ == "__main__":
    main()
