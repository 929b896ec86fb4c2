"""Copier migration to 0.2.0 (``_migrations``, ``version: "0.2.0"``): report what of the team's
own code still uses the 0.1.0 layout, which no update can move.

0.2.0 moved the vendored ``tools/local-databricks/`` into the package ``local-databricks`` and
the test wiring from ``scripts/run_local.py`` into ``local_databricks.project``. Copier merges
the template's files; the team's own files (their tests, scripts, docs, CI additions) may
still import ``run_local`` or name the old folder. Rewriting them blindly could break them
(the functions' signatures changed), so this lists each line, with what replaces it, and
changes nothing. It runs once, after an update that crosses 0.2.0 (Copier compares the
release versions).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

OLD_FOLDER = "tools/local-databricks"
# What replaces each old usage (CHANGELOG.md, 0.2.0, "Upgrading").
CHECKS = (
    (
        re.compile(r"^\s*(from run_local import|import run_local\b)"),
        "import it from local_databricks.project (fast_resources, select_assets, ...)",
    ),
    (
        re.compile(re.escape(OLD_FOLDER)),
        "local-databricks is a dev dependency now (pyproject.toml [tool.uv.sources])",
    ),
)
SKIPPED = (".copier-answers.yml",)


def tracked_files(project: Path) -> list[str]:
    """The project's tracked files and its new untracked ones (git-ignored ones left out)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return sorted(name for name in listed.split("\0") if name)


def old_usages(project: Path) -> list[tuple[str, int, str, str]]:
    """(file, line number, line, what replaces it) for every use of the 0.1.0 layout."""
    found = []
    for name in tracked_files(project):
        # Kept files of the old folder are listed by remove_dropped_files.py already.
        if name.startswith(f"{OLD_FOLDER}/") or name in SKIPPED:
            continue
        try:
            lines = (project / name).read_text(encoding="utf-8").splitlines()
        except (UnicodeDecodeError, OSError):  # binary or unreadable: nothing to report
            continue
        for number, line in enumerate(lines, start=1):
            for pattern, replacement in CHECKS:
                if pattern.search(line):
                    found.append((name, number, line.strip(), replacement))
                    break
    return found


def main() -> int:
    """Print the team's lines that still use the 0.1.0 layout; never fail the update."""
    usages = old_usages(Path.cwd())
    if usages:
        print(
            "migration 0.2.0: these lines of yours still use the 0.1.0 layout, which the update"
            " cannot move (see CHANGELOG.md, 0.2.0, 'Upgrading'):"
        )
        for name, number, line, replacement in usages:
            print(f"  ! {name}:{number}: {line}\n      -> {replacement}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
