"""scripts/verify.py around its checks: in a fresh render, a git repository on branch main
with a first commit; the install's package list shown only when the install fails.

The checks themselves are replaced by one command each (the toolchain tests run the real
ones): these tests are about what verify.py does around them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from rendering import render

IDENTITY = {
    "GIT_AUTHOR_NAME": "Ann",
    "GIT_AUTHOR_EMAIL": "ann@example.com",
    "GIT_COMMITTER_NAME": "Ann",
    "GIT_COMMITTER_EMAIL": "ann@example.com",
}
# verify.py with its checks replaced by one command that passes or fails.
RUNNER = """
import runpy, sys
verify = runpy.run_path("scripts/verify.py", run_name="verify")
code = "for i in range(130): print(f' + package-{i}')\\nraise SystemExit(%d)"
verify["CHECKS"][:] = [(%r, [sys.executable, "-c", code])]
sys.exit(verify["main"]())
"""


def run_verify(
    project: Path, tmp_path: Path, *, check_exit: int, identity: bool, name: str = "stand-in"
) -> str:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "uv").write_text("#!/bin/sh\nexit 0\n")  # verify.py asks for uv on PATH
    (bin_dir / "uv").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{env['PATH']}",
        HOME=str(tmp_path / "home"),  # no ~/.gitconfig: no identity but what we pass
        GIT_CONFIG_NOSYSTEM="1",
        # git would otherwise guess an identity from the host name.
        GIT_CONFIG_COUNT="1",
        GIT_CONFIG_KEY_0="user.useConfigOnly",
        GIT_CONFIG_VALUE_0="true",
        **(IDENTITY if identity else {}),
    )
    result = subprocess.run(
        [sys.executable, "-c", RUNNER % (check_exit, name)],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == (1 if check_exit else 0), result.stdout + result.stderr
    return result.stdout + result.stderr


def git(project: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=project, capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.fixture
def project(template_repo: Path, tmp_path: Path) -> Path:
    return render(template_repo, tmp_path / "project")


def test_first_run_commits_on_main(project: Path, tmp_path: Path) -> None:
    output = run_verify(project, tmp_path, check_exit=0, identity=True)
    assert "first commit on main" in output
    assert git(project, "branch", "--show-current") == "main"
    assert git(project, "log", "--format=%s") == "Project rendered from copier-dagster-databricks"
    assert git(project, "status", "--porcelain") == ""
    # A second run has nothing to commit and commits nothing.
    run_verify(project, tmp_path, check_exit=0, identity=True)
    assert len(git(project, "log", "--format=%H").splitlines()) == 1


def test_without_identity_the_project_is_staged_and_the_command_given(
    project: Path, tmp_path: Path
) -> None:
    output = run_verify(project, tmp_path, check_exit=0, identity=False)
    assert 'Commit it with: git commit -m "Project rendered from copier-dagster-databricks"' in (
        output
    )
    assert git(project, "branch", "--show-current") == "main"
    assert "A  README.md" in git(project, "status", "--porcelain").splitlines()


def test_a_failed_check_commits_nothing(project: Path, tmp_path: Path) -> None:
    run_verify(project, tmp_path, check_exit=3, identity=True)
    assert git(project, "branch", "--show-current") == "main"
    with pytest.raises(subprocess.CalledProcessError):
        git(project, "rev-parse", "--verify", "HEAD")


def test_an_existing_repository_is_left_alone(project: Path, tmp_path: Path) -> None:
    git(project, "init", "--quiet", "--initial-branch=trunk")
    run_verify(project, tmp_path, check_exit=0, identity=True)
    assert git(project, "branch", "--show-current") == "trunk"
    with pytest.raises(subprocess.CalledProcessError):
        git(project, "rev-parse", "--verify", "HEAD")


@pytest.mark.parametrize("fails", [False, True])
def test_the_install_lists_its_packages_only_when_it_fails(
    project: Path, tmp_path: Path, fails: bool
) -> None:
    output = run_verify(
        project, tmp_path, check_exit=int(fails), identity=True, name="install (uv sync)"
    )
    assert ("+ package-129" in output) == fails, output
    assert "==> install (uv sync)" in output
