"""What a team does to its project between two template updates, as edits the suite can apply
to any render (of any release, with any answers) and check afterwards.

Each edit is a transformation anchored on lines every release renders, so applying it to a
fresh render of the new release gives the tree an update must produce: ``copier update`` of an
edited project equals ``apply_edits(fresh render)``, conflicts aside (`conflicts()` counts them).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rendering import git

USER_ASSET = '''"""Our own asset: the sales targets the finance team sends us."""

import dagster as dg


@dg.asset(group_name="sales")
def sales_targets() -> dict[str, int]:
    """This quarter's targets per region."""
    return {"emea": 120, "amer": 200}
'''
RESOURCE_COMMENT = "            # Sales: our own assets post their failures here.\n"
RESOURCE_LINE = (
    '            "alerts_channel": dg.ResourceDefinition.hardcoded_resource("#sales-data"),\n'
)
PROFILE_COMMENT = "    # Sales: nightly backfills need more workers than the template's default.\n"
README_SECTION = "\n## Our runbook\n\nA failed nightly run pages #sales-data; rerun it in the UI.\n"
DEPENDENCY = '    "pyyaml>=6",\n'
CONFLICT_START = "<<<<<<< "


def package_dir(project: Path) -> Path:
    """The project's ``src/<package>`` folder."""
    return next(project.glob("src/*/defs")).parent


def profiles_file(project: Path) -> Path:
    """The project's cluster profiles: ``src/<package>/clusters.yml`` since 0.3.0, in
    ``src/<package>/databricks/`` before (an update moves it, with the team's changes)."""
    package = package_dir(project)
    old = package / "databricks" / "clusters.yml"
    return (
        old
        if old.is_file() and not (package / "clusters.yml").is_file()
        else package / "clusters.yml"
    )


def replace_once(path: Path, pattern: str, replacement: str) -> None:
    """Replace the first match of ``pattern`` in ``path``; fail if the anchor has moved."""
    text = path.read_text()
    new, count = re.subn(pattern, replacement, text, count=1, flags=re.MULTILINE)
    assert count == 1, f"{path}: the edit's anchor {pattern!r} is gone; update tests/user_edits.py"
    path.write_text(new)


@dataclass(frozen=True)
class Edit:
    """One team edit: where, how it is applied, and the lines it adds (which must survive)."""

    path: Callable[[Path], Path]
    apply: Callable[[Path], None]
    lines: tuple[str, ...]


def add_asset(path: Path) -> None:
    path.write_text(USER_ASSET)


def edit_resources(path: Path) -> None:
    # A resource of the team's own, after the template's.
    added = RESOURCE_COMMENT + RESOURCE_LINE
    replace_once(path, r'^(            "databricks_jobs": .*\n)', r"\1" + added)


def edit_profile(path: Path) -> None:
    # The general-purpose profile autoscales to 6 workers instead of 4.
    replace_once(path, r"^(  general:\n)", r"\1" + PROFILE_COMMENT)
    replace_once(path, r"(  general:\n(?:    .*\n|\s*\n)*?      max_workers: )4\n", r"\g<1>6\n")


def add_readme_section(path: Path) -> None:
    path.write_text(path.read_text() + README_SECTION)


def add_dependency(path: Path) -> None:
    replace_once(path, r"^(dependencies = \[\n)", r"\1" + DEPENDENCY)


EDITS = (
    Edit(lambda p: package_dir(p) / "defs" / "sales_targets.py", add_asset, (USER_ASSET,)),
    Edit(
        lambda p: package_dir(p) / "defs" / "resources.py",
        edit_resources,
        (RESOURCE_COMMENT, RESOURCE_LINE),
    ),
    Edit(
        lambda p: profiles_file(p),
        edit_profile,
        (PROFILE_COMMENT, "      max_workers: 6\n"),
    ),
    Edit(lambda p: p / "README.md", add_readme_section, (README_SECTION,)),
    Edit(lambda p: p / "pyproject.toml", add_dependency, (DEPENDENCY,)),
)


def apply_edits(project: Path) -> Path:
    """Apply every team edit to ``project`` (a render of any release) and return it."""
    for edit in EDITS:
        edit.apply(edit.path(project))
    return project


def commit_edits(project: Path) -> Path:
    """Apply the team's edits to a committed project and commit them, as teams do."""
    apply_edits(project)
    git(project, "add", "--all")
    git(project, "commit", "--quiet", "--message", "our edits")
    return project


def lost_lines(project: Path) -> list[str]:
    """The team's lines an update dropped (each ``path: line``); empty when all survived."""
    lost = []
    for edit in EDITS:
        path = edit.path(project)
        text = path.read_text() if path.is_file() else ""
        missing = [line for line in edit.lines if line not in text]
        lost += [f"{path.relative_to(project)}: {line!r}" for line in missing]
    return lost


def tree_files(project: Path) -> list[Path]:
    """The project's files git would commit: tracked and untracked, less the ignored ones."""
    listed = git(project, "ls-files", "--cached", "--others", "--exclude-standard", "-z")
    return [Path(name) for name in listed.split("\0") if name and (project / name).is_file()]


def conflicts(project: Path) -> dict[str, int]:
    """Inline conflicts Copier left, per file (relative path -> number of conflict blocks)."""
    found = {}
    for relative in tree_files(project):
        try:
            lines = (project / relative).read_text().splitlines()
        except UnicodeDecodeError:
            continue
        blocks = sum(1 for line in lines if line.startswith(CONFLICT_START))
        if blocks:
            found[relative.as_posix()] = blocks
    return found


def conflicts_git_sees(project: Path) -> dict[str, int]:
    """The same count as git reports it (`git diff --check`, what pre-commit refuses)."""
    result = subprocess.run(["git", "diff", "--check"], cwd=project, capture_output=True, text=True)
    found: dict[str, int] = {}
    for line in result.stdout.splitlines():
        match = re.match(r"(.+):\d+: leftover conflict marker$", line)
        if match:
            found[match[1]] = found.get(match[1], 0) + 1
    # git reports the three markers of each block (<<<<<<<, =======, >>>>>>>).
    return {path: count // 3 for path, count in found.items()}
