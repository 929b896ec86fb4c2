"""Copier migration, after every update: files the project no longer renders, without losing
a user's edit.

When a template version, or a changed answer (``copier update --data include_examples=false``),
stops rendering a file, `copier update` deletes it from the project even when the user changed
it, and leaves the caches next to it (``__pycache__``). 0.2.0, for example, moved the vendored
`tools/local-databricks/` into a package of the template repo.

This renders the old version with the old answers and the new version with the new answers
into temporary folders. For every file only the old render has, the project's last commit
(Copier updates clean git trees only) tells whether the user had changed it:

- unchanged: it stays deleted, and is listed;
- changed: it is put back from the last commit and listed as KEPT, so the user decides what
  to do with the edit;
- changed, and moved by the template (:data:`MOVED`, e.g. 0.3.0's
  ``src/<package>/databricks/clusters.yml`` -> ``src/<package>/clusters.yml``): the user's
  changes are merged into the new place (``git merge-file``: old render -> user's version,
  applied to the new render; conflicts as markers), if the update left that file as the
  template renders it, and it is listed as moved.

The caches and empty folders the removed files leave behind go too. Copier passes the versions
as environment variables (VERSION_FROM, VERSION_TO); the template clone is the first argument.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import copier
import yaml

ANSWERS_FILE = ".copier-answers.yml"
# Files a release moved, as (old, new) path templates ({package}: the package_name answer).
MOVED = (("src/{package}/databricks/clusters.yml", "src/{package}/clusters.yml"),)
CACHE_NAMES = ("__pycache__", ".pytest_cache", ".ruff_cache")


def render(template: str, ref: str, answers: dict, dst: Path) -> set[Path]:
    """Render ``template`` at ``ref`` into ``dst``; return the relative paths of its files."""
    copier.run_copy(
        template,
        dst,
        vcs_ref=ref,
        data=answers,
        defaults=True,
        unsafe=True,
        skip_tasks=True,
        quiet=True,
    )
    return {path.relative_to(dst) for path in dst.rglob("*") if path.is_file()}


def remove_caches(folder: Path) -> None:
    """Remove tool caches and build metadata under ``folder`` (never tracked, always rebuilt)."""
    for path in sorted(folder.rglob("*"), reverse=True):
        if path.is_dir() and (path.name in CACHE_NAMES or path.name.endswith(".egg-info")):
            shutil.rmtree(path, ignore_errors=True)


def prune_empty(project: Path, folders: set[Path]) -> None:
    """Remove ``folders`` (relative to ``project``) and their parents while they are empty."""
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        current = project / folder
        while current != project and current.is_dir():
            remove_caches(current)
            if any(current.iterdir()):
                break
            current.rmdir()
            current = current.parent


def committed(project: Path, relative: Path | str) -> bytes | None:
    """The content of ``relative`` in the project's last commit (None if it is not there)."""
    shown = subprocess.run(
        ["git", "show", f"HEAD:{Path(relative).as_posix()}"], cwd=project, capture_output=True
    )
    return shown.stdout if shown.returncode == 0 else None


def merged(new: Path, old: Path, edited: bytes) -> bytes:
    """``new`` with the changes that turned ``old`` into ``edited`` (conflicts as markers)."""
    with tempfile.NamedTemporaryFile(suffix=".edited") as handle:
        handle.write(edited)
        handle.flush()
        labels = ["-L", "template", "-L", "previous release", "-L", "yours"]
        result = subprocess.run(
            ["git", "merge-file", "-p", *labels, str(new), str(old), handle.name],
            capture_output=True,
            check=False,
        )
    if result.returncode < 0 or result.returncode > 127:  # git failed, not a conflict count
        return edited
    return result.stdout


def moved_untouched(project: Path, new_dir: Path, new: Path) -> bool:
    """True when the update left ``new`` (a moved file's new place) as the template renders it."""
    target, rendered = project / new, new_dir / new
    return rendered.is_file() and target.is_file() and target.read_bytes() == rendered.read_bytes()


def answers_of(text: str) -> dict:
    """Answers of an answers file's text (Copier's own keys, starting with ``_``, left out)."""
    answers = yaml.safe_load(text) or {}
    return {key: value for key, value in answers.items() if not key.startswith("_")}


def main() -> int:
    """Keep the user's edits of the files the update dropped; list what went and what stayed."""
    template, project = sys.argv[1], Path.cwd()
    old_ref, new_ref = os.environ["VERSION_FROM"], os.environ.get("VERSION_TO", "HEAD")
    old_answers = answers_of((committed(project, ANSWERS_FILE) or b"").decode())
    new_answers = answers_of((project / ANSWERS_FILE).read_text())
    removed, kept, moved = [], [], []
    package = str(new_answers.get("package_name", ""))
    moves = {
        Path(old.format(package=package)): Path(new.format(package=package)) for old, new in MOVED
    }
    with tempfile.TemporaryDirectory(prefix="copier-migration-") as tmp:
        old_dir, new_dir = Path(tmp, "old"), Path(tmp, "new")
        dropped = render(template, old_ref, old_answers, old_dir) - render(
            template, new_ref, new_answers, new_dir
        )
        for relative in sorted(dropped):
            content = committed(project, relative)
            if content is None:  # the user had removed it already
                continue
            if content == (old_dir / relative).read_bytes():
                (project / relative).unlink(missing_ok=True)
                removed.append(relative)
            elif relative in moves and moved_untouched(project, new_dir, moves[relative]):
                target = project / moves[relative]
                target.write_bytes(merged(target, old_dir / relative, content))
                (project / relative).unlink(missing_ok=True)
                moved.append((relative, moves[relative]))
            else:
                target = project / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(content)
                kept.append(relative)
    prune_empty(project, {path.parent for path in removed} | {old.parent for old, _ in moved})
    if removed:
        print(f"migration: {len(removed)} files are no longer part of the project", end="")
        print(f" ({old_ref} -> {new_ref}) and were removed:")
        for path in removed:
            print(f"  - {path}")
    if moved:
        print(
            "migration: these files of yours moved, with your changes, to where the template"
            " keeps them now:"
        )
        for old, new in moved:
            print(f"  > {old} -> {new}")
    if kept:
        print(
            "migration: KEPT these files, which the project no longer renders, because you"
            " changed them; nothing uses them now. Move your change where it belongs (see"
            " CHANGELOG.md, 'Upgrading'), then delete them:"
        )
        for path in kept:
            print(f"  ! {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
