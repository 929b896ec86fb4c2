"""The generated pre-commit configuration catches a planted Databricks token."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from rendering import git, render

# Hook environments install from PyPI on first use (cached in ~/.cache/pre-commit).
pytestmark = pytest.mark.toolchain

FAKE_TOKEN = "dapi" + "0123456789abcdef" * 2  # `dapi` + 32 hex digits, the PAT format


def run_hook(project: Path, hook: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", "run", hook, "--all-files"],
        cwd=project,
        capture_output=True,
        text=True,
    )


@pytest.fixture(scope="module")
def project(template_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = render(template_repo, tmp_path_factory.mktemp("precommit") / "p")
    git(project, "init", "--quiet")
    git(project, "add", "--all")
    return project


@pytest.mark.parametrize("hook", ["detect-secrets", "check-merge-conflict"])
def test_clean_project_passes(project: Path, hook: str) -> None:
    result = run_hook(project, hook)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "line", [f'workspace_token = "{FAKE_TOKEN}"', f"curl -H 'Authorization: Bearer {FAKE_TOKEN}'"]
)
def test_planted_databricks_token_is_caught(project: Path, line: str) -> None:
    leak = project / "src" / "sales_analytics" / "leak.py"
    leak.write_text(f"{line}\n")
    git(project, "add", "--all")
    try:
        result = run_hook(project, "detect-secrets")
    finally:
        leak.unlink()
        git(project, "add", "--all")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Databricks personal access token" in result.stdout
    assert "leak.py:1" in result.stdout
