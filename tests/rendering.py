"""Helpers of the template's own suite: a clean git snapshot of the template, and renders."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import copier

ROOT = Path(__file__).resolve().parent.parent
CREDENTIAL_PREFIXES = ("DATABRICKS_", "ARM_")


def git(cwd: Path, *args: str) -> str:
    """Run git quietly in ``cwd`` and return its stdout."""
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "template-tests",
        "GIT_AUTHOR_EMAIL": "tests@example.com",
        "GIT_COMMITTER_NAME": "template-tests",
        "GIT_COMMITTER_EMAIL": "tests@example.com",
    }
    result = subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    )
    return result.stdout


def snapshot_template(dst: Path, tag: str) -> Path:
    """Copy the working tree (uncommitted changes included) into a fresh repo tagged ``tag``.

    Copier then renders exactly what is on disk, from a clean, tagged repository, as users
    get it from a release.
    """
    files = git(ROOT, "ls-files", "--cached", "--others", "--exclude-standard", "-z").split("\0")
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file():
            target = dst / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    git(dst, "init", "--quiet", "--initial-branch=main")
    git(dst, "add", "--all")
    git(dst, "commit", "--quiet", "--message", f"template {tag}")
    git(dst, "tag", tag)
    return dst


def release_history(dst: Path, releases: list[dict[str, str]], current: str) -> Path:
    """A template repo with one commit per release (its tree at ``commit``, tagged with its
    ``version``), then the working tree (uncommitted changes included) tagged ``current``."""
    dst.mkdir(parents=True)
    git(dst, "init", "--quiet", "--initial-branch=main")
    for release in releases:
        archive = subprocess.run(
            ["git", "archive", "--format=tar", release["commit"]],
            cwd=ROOT,
            check=True,
            capture_output=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(dst)], input=archive, check=True)
        git(dst, "add", "--all")
        git(dst, "commit", "--quiet", "--message", f"release {release['version']}")
        git(dst, "tag", release["version"])
        for path in dst.iterdir():
            if path.name != ".git":
                shutil.rmtree(path) if path.is_dir() else path.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        tree = snapshot_template(Path(tmp) / "tree", current)
        shutil.copytree(tree, dst, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".git"))
    git(dst, "add", "--all")
    git(dst, "commit", "--quiet", "--message", f"release {current}")
    git(dst, "tag", current)
    return dst


def render(template: Path, dst: Path, data: dict[str, Any] | None = None, **kwargs: Any) -> Path:
    """Render ``template`` into ``dst`` with ``data`` (defaults for the rest), tasks skipped."""
    options: dict[str, Any] = {
        "data": {"project_name": "Sales Analytics", **(data or {})},
        "defaults": True,
        "unsafe": True,
        "skip_tasks": True,
        "quiet": True,
    }
    options.update(kwargs)
    copier.run_copy(str(template), dst, **options)
    return dst


def project_env(python: str) -> dict[str, str]:
    """Environment for a generated project's commands: no credentials, a fixed interpreter,
    and none of the caller's virtualenv (nox sets UV_PROJECT_ENVIRONMENT to its own)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(CREDENTIAL_PREFIXES)}
    for name in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "CONDA_PREFIX"):
        env.pop(name, None)
    env.update(UV_PYTHON=python, UV_PYTHON_DOWNLOADS="never", PYTHONDONTWRITEBYTECODE="1")
    return env
