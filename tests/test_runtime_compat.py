"""brickpipes leaves the Databricks SDK free: a render resolves its newest release, a team can
add the newest dbt-databricks, and a team that wants dagster-databricks (its step launcher or
bundle components) adds it, resolves (the SDK then held below 0.61), and the runtime still runs.
"""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.version import Version
from pythons import find_python
from rendering import project_env, render

pytestmark = pytest.mark.toolchain
VERSIONS = (Path(__file__).parents[1] / "versions.yml").read_text()
DAGSTER_DATABRICKS = re.search(
    r'dagster_databricks_version:\n(?:  .*\n)*?  default: "([^"]+)"', VERSIONS
)


def locked(project: Path, name: str) -> Version:
    lock = tomllib.loads((project / "uv.lock").read_text())
    (package,) = [p for p in lock["package"] if p["name"] == name]
    return Version(package["version"])


def run(project: Path, env: dict[str, str], *command: str) -> str:
    result = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)
    assert result.returncode == 0, (
        f"{' '.join(command)}:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
    )
    return result.stdout


@pytest.fixture
def project(template_repo: Path, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    python = find_python("3.12")
    if python is None:
        pytest.skip("Python 3.12 (the default python_version) is not installed here")
    return render(template_repo, tmp_path / "p"), project_env(python)


def test_a_fresh_lock_takes_a_current_sdk_and_the_newest_dbt_databricks_resolves(
    project: tuple[Path, dict[str, str]],
) -> None:
    path, env = project
    run(path, env, "uv", "lock", "--quiet")
    # Past dagster-databricks' cap (<0.61): the lock takes the newest release the range allows.
    assert locked(path, "databricks-sdk") >= Version("0.61")
    # Resolution only: dbt-databricks 1.12 needs dbt-core-experimental-parser, whose sdist
    # downloads a binary while it builds, which no machine of this suite can.
    run(path, env, "uv", "add", "--quiet", "--no-sync", "dbt-databricks")
    assert locked(path, "dbt-databricks") >= Version("1.12")
    assert locked(path, "databricks-sdk") >= Version("0.61")


def test_a_team_adds_dagster_databricks_and_the_runtime_still_runs(
    project: tuple[Path, dict[str, str]],
) -> None:
    path, env = project
    assert DAGSTER_DATABRICKS is not None
    run(path, env, "uv", "add", "--quiet", f"dagster-databricks=={DAGSTER_DATABRICKS[1]}")
    run(path, env, "uv", "sync", "--quiet")
    assert locked(path, "databricks-sdk") < Version("0.61")  # what upstream allows
    run(path, env, "uv", "run", "--no-sync", "python", "-c", "import dagster_databricks")
    run(path, env, "uv", "run", "--no-sync", "dg", "check", "defs")
    # The runtime on that SDK: Pipes (script, notebook) and run-now, through local Databricks.
    run(
        path,
        env,
        "uv",
        "run",
        "--no-sync",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "tests/test_examples.py",
        "-k",
        "daily_orders_backfill or region_report or job_run_materializes",
    )
