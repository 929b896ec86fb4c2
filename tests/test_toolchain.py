"""Render a representative set of answers and run each project's own toolchain for real.

One render per case; each runs ``scripts/verify.py`` (uv sync, ruff format and check,
``dg check defs``, pytest) with no Databricks variable set, sharing the uv cache.
The defaults case goes through the Copier CLI with ``--trust``, so the post-copy task runs it;
the others first get the edits the generated README tells a team to make
(tests/documented_edits.py), so their own tests are proven to survive them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from answers import TOOLCHAIN_CASES
from documented_edits import apply_documented_edits
from pythons import find_python
from rendering import project_env, render

# Heavy: a full `uv sync` per case. Marked so a quick run can deselect them.
pytestmark = pytest.mark.toolchain


def python_for(answers: dict[str, Any]) -> str:
    version = answers.get("python_version", "3.12")
    python = find_python(version)
    if python is None:
        pytest.skip(f"Python {version} is not installed here; this case needs it")
    return python


@pytest.mark.parametrize("case", sorted(TOOLCHAIN_CASES))
def test_generated_project_passes_its_own_checks(
    case: str, template_repo: Path, tmp_path: Path
) -> None:
    answers = TOOLCHAIN_CASES[case]
    python = python_for(answers)
    project = tmp_path / case
    env = project_env(python)
    if case == "defaults":
        # The way users run it: Copier's CLI, trusted, so the post-copy verification runs.
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "copier",
                "copy",
                "--trust",
                "--defaults",
                "--data",
                "project_name=Sales Analytics",
                str(template_repo),
                str(project),
            ],
            env=env,
            capture_output=True,
            text=True,
        )
        output = result.stdout + result.stderr
        assert result.returncode == 0, output
        assert "verify: all checks passed" in output, output
        assert (project / ".git").is_dir() and (project / "uv.lock").is_file()
        return
    render(template_repo, project, answers)
    subprocess.run(["uv", "sync", "--quiet"], cwd=project, env=env, check=True)
    apply_documented_edits(project, env)
    result = subprocess.run(
        [python, "scripts/verify.py"], cwd=project, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "verify: all checks passed" in result.stdout


@pytest.fixture(scope="module")
def broken_project(template_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A defaults render with an unused import, verified once (which syncs its venv)."""
    project = render(template_repo, tmp_path_factory.mktemp("broken") / "p")
    definitions = next(project.glob("src/*/definitions.py"))
    source = definitions.read_text().replace("from pathlib", "import os\nfrom pathlib", 1)
    definitions.write_text(source)  # an unused import: ruff F401, still formatted
    return project


def test_failed_check_names_itself_and_the_rerun_command(broken_project: Path) -> None:
    python = python_for({})
    result = subprocess.run(
        [python, "scripts/verify.py"],
        cwd=broken_project,
        env=project_env(python),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "check 'lint (ruff check)' failed" in result.stderr
    assert "Rerun it with: uv run --no-sync ruff check ." in result.stderr


def test_bad_cluster_profile_fails_dg_check_defs(broken_project: Path) -> None:
    python = python_for({})
    env = project_env(python)
    subprocess.run(["uv", "sync", "--quiet"], cwd=broken_project, env=env, check=True)
    profiles = next(broken_project.glob("src/*/clusters.yml"))
    good = profiles.read_text()
    profiles.write_text(good.replace("num_workers: 0", "num_workers: -2", 1))
    try:
        result = subprocess.run(
            ["uv", "run", "--no-sync", "dg", "check", "defs"],
            cwd=broken_project,
            env=env,
            capture_output=True,
            text=True,
        )
    finally:
        profiles.write_text(good)
    assert result.returncode != 0
    assert "clusters.yml: profile 'small': num_workers" in result.stdout + result.stderr
