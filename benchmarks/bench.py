"""Benchmarks of the template, each reported as a ratio against a baseline measured in the
same run (absolute times vary by machine; ratios travel). Run with ``uvx nox -s bench``.

Figures:
- render: full template vs a one-file Copier template, both through the Copier CLI from a
  tagged git repository (target: at most 1.3x).
- size: files and lines of a default render vs a default render of the oldest supported
  release (releases.yml), which still vendored local-databricks into every project.
- issue 20 targets (the runtime as the brickpipes package), each with its baseline measured in
  the same run unless said otherwise:
  - template-maintained Python lines in ``src/<pkg>`` outside the examples (modules whose first
    docstring line is ``MAINTAINED``), and Python lines of ``tests/``, vs a default render of
    0.2.0 (targets: at most 150 and 800);
  - production site-packages: ``uv export --no-dev`` of the default render installed into a
    fresh venv vs dagster + dagster-pipes + databricks-sdk alone (target: at most 1.15x), and
    which of pyspark, py4j, dagster-pyspark, dagster-spark the export holds (target: none);
  - the databricks-sdk a fresh ``uv lock`` of the default render resolves (target: the newest,
    which the baseline venv above installs);
  - a Databricks step process's imports (``brickpipes.pipes``, ``.transport``, ``.runner``, the
    SDK) vs ``import dagster, dagster_pipes, databricks.sdk``, CPU seconds, bytecode compiled
    (target: at most 1.05x);
  - the generated suite, ``uv run pytest -q`` (target: at most 15 s on 2 cores; reference: 36 s,
    issue 20, measured before), and ``copier copy --trust --defaults`` through the CLI until
    its verification is green, warm uv cache (target: at most 45 s; reference: 82 s).
- load: importing and building the generated definitions vs ``import dagster`` (and whether
  pyspark, dagster_databricks or databricks.sdk were imported: they must not be).
- local Databricks (benchmarks/in_project.py, in the generated project): server start vs a bare
  HTTP server and a Python spawn (target: under 1 s); a trivial Pipes run end to end vs the
  same script through Dagster's PipesSubprocessClient (target: under 3 s) and through
  upstream's PipesDatabricksClient; API calls per run; 60 s runs vs the plain client; the
  rollups on one shared cluster. The plain client's comparisons need dagster-databricks, which
  projects no longer depend on: it is installed into the bench project's venv
  (versions.yml ``dagster_databricks_version``; it holds databricks-sdk below 0.61 there).
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
import functools
import json
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from pythons import find_python
from rendering import ROOT, git, project_env, release_history, snapshot_template

MAINTAINED = "Maintained by the template; changes arrive with `copier update`."
# What dagster-databricks brought into production images (issue 20): none may be exported.
SPARK_PACKAGES = ("pyspark", "py4j", "dagster-pyspark", "dagster-spark")
# Figures of issue 20 measured before brickpipes, for what has no baseline in the same run.
SUITE_BEFORE_S = 36.0  # the generated suite on 2 cores, idle
COPY_BEFORE_S = 82.0  # copier copy --trust, warm cache, under load


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


def releases() -> list[dict[str, str]]:
    """The supported releases, oldest first (releases.yml)."""
    import yaml

    return yaml.safe_load((ROOT / "releases.yml").read_text())


def bench_size(work: Path) -> tuple[tuple[int, int], tuple[int, int], str]:
    """Size of the current default render vs the oldest release's, and that release; every
    release is rendered into ``out-<version>``."""
    history = release_history(work / "history", releases(), "99.0.0")
    for release in releases():
        copier_cli(history, work / f"out-{release['version']}", ref=release["version"])
    oldest = releases()[0]["version"]
    return tree_size(work / "out-full"), tree_size(work / f"out-{oldest}"), oldest


def python_lines(paths: list[Path]) -> int:
    """Lines of the Python files among ``paths``."""
    return sum(len(p.read_bytes().splitlines()) for p in paths if p.suffix == ".py")


def maintained_lines(project: Path) -> tuple[int, int]:
    """Template-maintained Python lines in ``src/<pkg>`` outside the examples (modules whose
    first docstring line says so), and Python lines of ``tests/``."""
    maintained = [
        path
        for path in (project / "src").rglob("*.py")
        if "examples" not in path.relative_to(project).parts
        and path.read_text().removeprefix('"""').split("\n", 1)[0] == MAINTAINED
    ]
    return python_lines(maintained), python_lines(list((project / "tests").rglob("*.py")))


@functools.cache
def bench_python() -> str:
    """Python 3.12, the default python_version of a render."""
    python = find_python("3.12")
    if python is None:
        raise SystemExit("bench: Python 3.12 (the default python_version) is not installed")
    return python


def project_python(work: Path, sync: bool = True) -> tuple[Path, dict[str, str]]:
    """The rendered defaults project (synced unless ``sync`` is false) and the environment to
    run commands in it."""
    project = work / "out-full"
    env = project_env(bench_python())
    if sync:
        subprocess.run(["uv", "sync", "--quiet"], cwd=project, env=env, check=True)
    return project, env


def install_dagster_databricks(work: Path) -> str:
    """Add upstream's dagster-databricks (versions.yml) to the synced bench project's venv, for
    the plain-client comparisons; return the databricks-sdk version it leaves there."""
    import yaml

    versions = yaml.safe_load((ROOT / "versions.yml").read_text())
    pin = versions["dagster_databricks_version"]["default"]
    project, env = project_python(work)
    python = str(project / ".venv" / "bin" / "python")
    subprocess.run(
        ["uv", "pip", "install", "--quiet", "--python", python, f"dagster-databricks=={pin}"],
        cwd=project,
        env=env,
        check=True,
    )
    code = "import databricks.sdk.version as v; print(v.__version__)"
    sdk = subprocess.run(
        [python, "-c", code], env=env, check=True, capture_output=True, text=True
    ).stdout.strip()
    return f"dagster-databricks=={pin}, databricks-sdk {sdk}"


def bench_local_databricks(work: Path, repeat: int) -> dict:
    """Figures of benchmarks/in_project.py, run with the generated project's interpreter
    (dagster-databricks installed: see install_dagster_databricks)."""
    project, env = project_python(work, sync=False)
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
    """One JSON line of packages/local-databricks/benchmarks/<name>, in the generated project
    (dagster-databricks installed: see install_dagster_databricks)."""
    project, env = project_python(work, sync=False)
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


def uv_env() -> dict[str, str]:
    """The bench project's environment (no credentials, Python 3.12), keeping UV_FIND_LINKS
    (the prebuilt pyspark wheel) and the warm uv cache."""
    return project_env(bench_python())


def site_packages_mb(venv: Path) -> float:
    """Megabytes (10^6 bytes) of ``venv``'s site-packages (``du -sb``)."""
    (site,) = venv.glob("lib/python*/site-packages")
    out = subprocess.run(["du", "-sb", str(site)], check=True, capture_output=True, text=True)
    return int(out.stdout.split()[0]) / 1e6


def fresh_venv(venv: Path, requirements: list[str]) -> Path:
    """A new venv at ``venv`` with ``requirements`` installed (bytecode compiled, as the
    project's uv config does); return its python."""
    env = uv_env()
    subprocess.run(
        ["uv", "venv", "--quiet", "--python", bench_python(), str(venv)], env=env, check=True
    )
    python = venv / "bin" / "python"
    subprocess.run(
        [
            "uv",
            "pip",
            "install",
            "--quiet",
            "--compile-bytecode",
            "--python",
            str(python),
            *requirements,
        ],
        env=env,
        check=True,
    )
    return python


def installed_version(python: Path, distribution: str) -> str:
    """The version of ``distribution`` installed for ``python``."""
    code = f"import importlib.metadata as m; print(m.version({distribution!r}))"
    return subprocess.run(
        [str(python), "-c", code], check=True, capture_output=True, text=True
    ).stdout.strip()


@dataclass
class Production:
    """The production environment of the default render vs its runtime's minimum."""

    export_mb: float
    baseline_mb: float
    spark_exported: list[str]
    newest_sdk: str
    export_python: Path


def bench_production(work: Path) -> Production:
    """``uv export --no-dev`` of the default render installed into a fresh venv vs a venv with
    only dagster, dagster-pipes (the render's pins) and the newest databricks-sdk."""
    import yaml

    project = work / "out-full"
    exported = subprocess.run(
        ["uv", "export", "--quiet", "--no-dev", "--no-emit-project", "--no-hashes"],
        cwd=project,
        env=uv_env(),
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    # Local packages (brickpipes from the snapshot) are exported editable: install them as
    # production does, into site-packages.
    lines = [line.removeprefix("-e ").strip() for line in exported.splitlines()]
    lines = [line for line in lines if line and not line.startswith("#")]
    (work / "production.txt").write_text("\n".join(lines) + "\n")
    names = {re.split(r"[=<>@ ;\[]", line, maxsplit=1)[0].lower() for line in lines}
    spark = [name for name in SPARK_PACKAGES if name in names]
    export_python = fresh_venv(work / "venv-export", ["-r", str(work / "production.txt")])
    versions = yaml.safe_load((ROOT / "versions.yml").read_text())
    pins = [
        f"dagster=={versions['dagster_version']['default']}",
        f"dagster-pipes=={versions['dagster_pipes_version']['default']}",
        "databricks-sdk",
    ]
    baseline_python = fresh_venv(work / "venv-baseline", pins)
    return Production(
        export_mb=site_packages_mb(work / "venv-export"),
        baseline_mb=site_packages_mb(work / "venv-baseline"),
        spark_exported=spark,
        newest_sdk=installed_version(baseline_python, "databricks-sdk"),
        export_python=export_python,
    )


def bench_fresh_lock(work: Path) -> str:
    """The databricks-sdk version a fresh ``uv lock`` of the default render resolves."""
    import tomllib

    fresh = work / "fresh-lock"
    shutil.copytree(
        work / "out-full", fresh, ignore=shutil.ignore_patterns(".venv", "uv.lock", ".git")
    )
    subprocess.run(["uv", "lock", "--quiet"], cwd=fresh, env=uv_env(), check=True)
    lock = tomllib.loads((fresh / "uv.lock").read_text())
    (sdk,) = [p["version"] for p in lock["package"] if p["name"] == "databricks-sdk"]
    return sdk


def cpu_seconds(command: list[str], repeat: int) -> tuple[float, float]:
    """Median CPU (user + system) and wall seconds of ``repeat`` runs of ``command`` (after a
    warm-up run)."""
    subprocess.run(command, check=True)
    cpu, wall = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(command, check=True)
        wall.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(cpu), statistics.median(wall)


def bench_step_imports(python: Path, repeat: int) -> dict[str, tuple[float, float]]:
    """What a Databricks step process imports vs dagster, dagster-pipes and the SDK alone, in
    the production venv (bytecode compiled)."""
    step = "import brickpipes.pipes, brickpipes.transport, brickpipes.runner; import databricks.sdk"
    alone = "import dagster, dagster_pipes, databricks.sdk"
    return {
        "step": cpu_seconds([str(python), "-c", step], repeat),
        "alone": cpu_seconds([str(python), "-c", alone], repeat),
    }


def bench_suite(work: Path) -> tuple[float, str]:
    """Wall seconds of the default render's own ``uv run pytest -q`` (synced before), and its
    last line."""
    project, env = project_python(work)
    started = time.perf_counter()
    result = subprocess.run(
        ["uv", "run", "pytest", "-q"], cwd=project, env=env, capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    last = (result.stdout.strip().splitlines() or ["(no output)"])[-1]
    return seconds, last if result.returncode == 0 else f"FAILED: {last}"


def bench_copy_to_green(work: Path) -> tuple[float, str]:
    """Wall seconds of ``copier copy --trust --defaults`` of the template through the CLI, its
    post-copy verification (uv sync, ruff, ``dg check defs``, pytest) included, warm uv cache;
    and whether the verification passed."""
    destination = work / "copy-green"
    started = time.perf_counter()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "copier",
            "copy",
            "--trust",
            "--defaults",
            "--data",
            "project_name=Green Project",
            str(work / "full"),
            str(destination),
        ],
        env=uv_env(),
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    failed = result.returncode != 0 or "verification FAILED" in result.stderr
    return seconds, "FAILED (see verify.py's output)" if failed else "green"


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
        lines = maintained_lines(work / "out-full")
        lines_020 = maintained_lines(work / "out-0.2.0")
        load_s, dagster_s, heavy = bench_load(work, args.repeat)
        production = bench_production(work)
        locked_sdk = bench_fresh_lock(work)
        imports = bench_step_imports(production.export_python, args.repeat * 2)
        suite_s, suite_result = bench_suite(work)
        plain_env = install_dagster_databricks(work)
        print(f"bench: installed {plain_env} into the bench project for the plain client")
        local = bench_local_databricks(work, args.repeat)
        server_load = bench_server_load(work)
        pipes_run = bench_package_script(work, "pipes_run.py")
        spark_run = bench_package_script(work, "spark_run.py")
        copy_s, copy_result = bench_copy_to_green(work)
    print(f"\nbenchmarks (median of {args.repeat} runs, after a warm-up)")
    print(f"plain client (upstream's PipesDatabricksClient): {plain_env}")
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
        f"{'template-maintained src/<pkg> lines vs 0.2.0':<44}"
        f"{lines[0]:>10}{lines_020[0]:>10}{lines[0] / lines_020[0]:>7.2f}x   (target <= 150)"
    )
    print(
        f"{'tests/ lines, this vs 0.2.0':<44}"
        f"{lines[1]:>10}{lines_020[1]:>10}{lines[1] / lines_020[1]:>7.2f}x   (target <= 800)"
    )
    print(
        f"{'production site-packages vs dagster+pipes+sdk':<44}"
        f"{production.export_mb:>8.0f}MB{production.baseline_mb:>8.0f}MB"
        f"{production.export_mb / production.baseline_mb:>7.2f}x   (target <= 1.15x)"
    )
    spark = ", ".join(production.spark_exported) or "none"
    print(f"Spark packages in uv export --no-dev: {spark} (target none)")
    print(
        f"databricks-sdk of a fresh uv lock: {locked_sdk}; newest the registry resolves:"
        f" {production.newest_sdk} (target: the newest)"
    )
    (step_cpu, step_wall), (alone_cpu, alone_wall) = imports["step"], imports["alone"]
    print(
        f"{'step imports vs dagster+pipes+sdk (CPU)':<44}"
        f"{step_cpu:>9.2f}s{alone_cpu:>9.2f}s{step_cpu / alone_cpu:>7.2f}x   (target <= 1.05x)"
    )
    print(
        f"{'step imports vs dagster+pipes+sdk (wall)':<44}"
        f"{step_wall:>9.2f}s{alone_wall:>9.2f}s{step_wall / alone_wall:>7.2f}x"
    )
    print(
        f"{'generated suite: uv run pytest -q':<44}"
        f"{suite_s:>9.1f}s{SUITE_BEFORE_S:>9.1f}s{suite_s / SUITE_BEFORE_S:>7.2f}x"
        f"   (target <= 15 s on 2 cores; baseline: issue 20, measured before)"
    )
    print(f"  {suite_result}")
    print(
        f"{'copy to green: copier copy --trust, warm':<44}"
        f"{copy_s:>9.1f}s{COPY_BEFORE_S:>9.1f}s{copy_s / COPY_BEFORE_S:>7.2f}x"
        f"   (target <= 45 s; baseline: issue 20, measured before) {copy_result}"
    )
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
    print(
        f"{'trivial Pipes run: runner vs plain client':<44}"
        f"{local['trivial_run_s']:>9.2f}s{local['plain_trivial_run_s']:>9.2f}s"
        f"{local['trivial_run_s'] / local['plain_trivial_run_s']:>7.2f}x   (test intervals)"
    )
    calls, plain_calls = local["calls"], local["plain_trivial_calls"]
    print(
        f"API calls of one trivial run: {sum(calls.values())}"
        f" (plain client: {sum(plain_calls.values())})"
    )
    for route in sorted({*calls, *plain_calls}):
        print(f"  {calls.get(route, 0):>4}  {route}  (plain client: {plain_calls.get(route, 0)})")
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
