"""The generated pre-commit configuration catches planted Databricks and Entra ID secrets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from rendering import git, render

# Hook environments install from PyPI on first use (cached in ~/.cache/pre-commit).
pytestmark = pytest.mark.toolchain

FAKE_TOKEN = "dapi" + "0123456789abcdef" * 2  # `dapi` + 32 hex digits, the PAT format
FAKE_OAUTH_SECRET = "dose" + "fedcba9876543210" * 2  # a Databricks OAuth secret's format
FAKE_ENTRA_SECRET = "abc8Q~" + "Zx9yW_vU7tS.rQ5pO-nM3lK1jI0hG2fE4d"  # 40 characters
# Per auth method: the answers, the .env.example line a leak would be, and what detects it.
LEAKS = {
    "pat": ({}, f"DATABRICKS_TOKEN={FAKE_TOKEN}", "Databricks personal access token"),
    "oauth-m2m": (
        {},
        f"DATABRICKS_CLIENT_SECRET={FAKE_OAUTH_SECRET}",
        "Databricks OAuth secret",
    ),
    "azure-client-secret": (
        {"cloud": "azure"},
        f"ARM_CLIENT_SECRET={FAKE_ENTRA_SECRET}",
        "Entra ID client secret",
    ),
    # A profile keeps its token in ~/.databrickscfg; one pasted here anyway is a leak too.
    "profile": ({}, f"DATABRICKS_TOKEN={FAKE_TOKEN}", "Databricks personal access token"),
}


def run_hook(project: Path, hook: str | None = None) -> subprocess.CompletedProcess[str]:
    """``pre-commit run <hook> --all-files`` (every hook when ``hook`` is None)."""
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", "run", *([hook] if hook else []), "--all-files"],
        cwd=project,
        capture_output=True,
        text=True,
    )


def plant(env_example: Path, line: str) -> int:
    """Put ``line`` in place of its variable's line (appended if absent); return its number."""
    lines = env_example.read_text().splitlines()
    variable = line.split("=", 1)[0] + "="
    found = [i for i, existing in enumerate(lines) if existing.startswith(variable)]
    if found:
        lines[found[0]] = line
    else:
        lines.append(line)
    env_example.write_text("\n".join(lines) + "\n")
    return (found[0] if found else len(lines) - 1) + 1


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


@pytest.mark.parametrize("auth_method", list(LEAKS))
def test_secret_committed_in_env_example_is_caught(
    template_repo: Path, tmp_path: Path, auth_method: str
) -> None:
    answers, line, secret_type = LEAKS[auth_method]
    project = render(template_repo, tmp_path / "p", {"auth_method": auth_method, **answers})
    git(project, "init", "--quiet")
    git(project, "add", "--all")
    git(project, "commit", "--quiet", "-m", "rendered")
    clean = run_hook(project)
    assert clean.returncode == 0, clean.stdout + clean.stderr  # its placeholders pass

    number = plant(project / ".env.example", line)
    git(project, "commit", "--quiet", "--all", "-m", "a real secret, by mistake")
    result = run_hook(project)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"Secret Type: {secret_type}" in result.stdout
    assert f".env.example:{number}" in result.stdout
