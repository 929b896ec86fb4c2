"""Maintained by the template; changes arrive with `copier update`.

Say whether the template has a newer release than the one this project was rendered from.

CI runs it as an informational step::

    python scripts/template_update.py

It reads ``_commit`` and ``_src_path`` from ``.copier-answers.yml`` and lists the template's
tags with ``git ls-remote`` (no clone, no install). A newer release prints one line (a notice in
GitHub Actions) with the command to update. It never fails: offline, without access to the
template repository, or when the answers name no release, it prints nothing and exits 0.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ANSWERS = Path(__file__).resolve().parent.parent / ".copier-answers.yml"
RELEASE = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)$")
# Copier's short forms of hosted repositories.
PREFIXES = {"gh:": "https://github.com/", "gl:": "https://gitlab.com/"}


def answer(text: str, key: str) -> str | None:
    """A top-level string value of the answers file (plain or quoted YAML scalar)."""
    match = re.search(rf"^{key}: *(.+?) *$", text, flags=re.MULTILINE)
    return match.group(1).strip("'\"") if match else None


def version(text: str) -> tuple[int, int, int] | None:
    """The release a ``_commit`` or tag names: ``0.2.0``, ``v0.2.0``, or Copier's
    ``0.2.0-3-g1a2b3c4`` for a commit after the tag (still 0.2.0). None for anything else."""
    match = RELEASE.match(re.sub(r"-\d+-g[0-9a-f]+$", "", text))
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def source_url(src_path: str) -> str:
    """What git can list: Copier's gh:/gl: short forms expanded, git+ prefixes dropped."""
    for prefix, url in PREFIXES.items():
        if src_path.startswith(prefix):
            return url + src_path.removeprefix(prefix)
    return src_path.removeprefix("git+")


def released_tags(src_path: str) -> list[str]:
    """The template's tag names; empty when the repository cannot be reached in 20 s."""
    # Never ask for credentials: a CI job has nobody to answer, and a prompt would hang it.
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true"}
    try:
        listed = subprocess.run(
            # `--`: the answers file is data, and a _src_path like `--upload-pack=<command>`
            # must reach git as a repository, never as an option (which would run it).
            ["git", "ls-remote", "--tags", "--refs", "--", source_url(src_path)],
            capture_output=True,
            text=True,
            timeout=20,
            env=env,
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    if listed.returncode != 0:
        return []
    return [line.rsplit("refs/tags/", 1)[-1] for line in listed.stdout.splitlines()]


def newer_release(answers_text: str) -> tuple[str, str] | None:
    """(this project's release, the newest release) when the template has a newer one."""
    commit, src_path = answer(answers_text, "_commit"), answer(answers_text, "_src_path")
    current = version(commit) if commit else None
    if current is None or not src_path:
        return None
    releases = [(version(tag), tag) for tag in released_tags(src_path)]
    newest = max(((v, tag) for v, tag in releases if v is not None), default=None)
    if newest is None or newest[0] <= current:
        return None
    return commit or "", newest[1]


def main() -> int:
    """Print a notice when a newer template release exists; always exit 0."""
    try:
        found = newer_release(ANSWERS.read_text())
    except Exception:  # informational only: nothing here may fail the build
        return 0
    if found is None:
        return 0
    current, newest = found
    message = (
        f"The template has a newer release, {newest} (this project: {current}). "
        "Update with `copier update --trust` on a branch; read the template's CHANGELOG "
        "'Upgrading' first."
    )
    if os.environ.get("GITHUB_ACTIONS") == "true":
        print(f"::notice title=Template update available::{message}")
    else:
        print(message)
    return 0


if __name__ == "__main__":
    sys.exit(main())
