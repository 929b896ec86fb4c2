"""Maintained by the template; changes arrive with `copier update`.

Verify the project the way CI does: install, format, lint, type-check, load definitions, test.

Run it from the project root with any Python 3.10+ and uv on PATH::

    python scripts/verify.py

It needs no Databricks credentials: the tests run against local Databricks. Each failure
names the check and the one command to rerun it. ``copier copy --trust`` runs it once after
rendering; without ``--trust``, run it yourself.

In a folder that is not yet a git repository (a fresh render), it creates one on branch
``main`` (the branch the generated CI runs on) and, once every check passed, commits the
project as its first commit (``uv.lock`` included), so ``copier update`` has the clean,
committed tree it needs. Without a git identity (``user.name``/``user.email``) it leaves the
files staged and says how to commit. An existing repository is left alone.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHECKS: list[tuple[str, list[str]]] = [
    ("install (uv sync)", ["uv", "sync"]),
    ("format (ruff format --check)", ["uv", "run", "--no-sync", "ruff", "format", "--check", "."]),
    ("lint (ruff check)", ["uv", "run", "--no-sync", "ruff", "check", "."]),
    ("types (pyright)", ["uv", "run", "--no-sync", "pyright"]),
    ("definitions load (dg check defs)", ["uv", "run", "--no-sync", "dg", "check", "defs"]),
    ("tests (pytest)", ["uv", "run", "--no-sync", "pytest", "-q"]),
]


FIRST_COMMIT = "Project rendered from copier-dagster-databricks"


def git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)


def ensure_git_repo() -> bool:
    """Make the project a git repository on branch main, so pre-commit and `copier update`
    work. True when this run created it."""
    if (ROOT / ".git").exists() or not shutil.which("git"):
        return False
    subprocess.run(["git", "init", "--quiet"], cwd=ROOT, check=True)
    # `git init --initial-branch` needs git 2.28; this names the unborn branch on any git.
    subprocess.run(["git", "symbolic-ref", "HEAD", "refs/heads/main"], cwd=ROOT, check=True)
    print("verify: initialised a git repository on branch main")
    return True


def first_commit() -> None:
    """Commit the checked project as the repository's first commit."""
    git("add", "--all")
    committed = git("commit", "--quiet", "--message", FIRST_COMMIT)
    if committed.returncode == 0:
        print(f"verify: first commit on main: {FIRST_COMMIT}")
        return
    print(
        "verify: the project is staged but not committed (git says: "
        f"{(committed.stderr.strip().splitlines() or ['?'])[-1]}).\n"
        f'Commit it with: git commit -m "{FIRST_COMMIT}"',
        file=sys.stderr,
    )


# Checks whose output matters only when they fail: `uv sync` lists every package it installs
# (about 130 lines in a new project), shown only if the install fails.
QUIET_UNLESS_FAILED = {"install (uv sync)"}


def run_check(name: str, command: list[str]) -> bool:
    """Run one check in the project root; on failure say what failed and how to rerun it."""
    print(f"==> {name}", flush=True)
    started = time.monotonic()
    quiet = name in QUIET_UNLESS_FAILED
    result = subprocess.run(command, cwd=ROOT, capture_output=quiet, text=True)
    if quiet and result.returncode != 0:
        sys.stdout.write(result.stdout)
        sys.stderr.write(result.stderr)
    if result.returncode != 0:
        print(
            f"\nverify: check '{name}' failed (exit {result.returncode}).\n"
            f"Rerun it with: {' '.join(command)}",
            file=sys.stderr,
        )
        return False
    print(f"    ok ({time.monotonic() - started:.1f} s)", flush=True)
    return True


def main() -> int:
    """Run every check in order and stop at the first failure."""
    if not shutil.which("uv"):
        print("verify: uv is not on PATH; install it: https://docs.astral.sh/uv/", file=sys.stderr)
        return 2
    created = ensure_git_repo()
    for name, command in CHECKS:
        if not run_check(name, command):
            return 1
    print("verify: all checks passed")
    if created:
        first_commit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
