"""Copier migration: files the new release no longer renders, without losing a user's edit.

When a template version stops rendering a file, `copier update` deletes it from the project,
even when the user changed it, and leaves the caches next to it (``__pycache__``). 0.2.0, for
example, moved the vendored `tools/local-databricks/` into a package of the template repo.

Before the update (STAGE=before) this renders the old and the new version with the project's
answers into temporary folders. For every file only the old version renders, a copy the user
changed (it differs from the old render) is saved under the project's git directory. After the
update (STAGE=after) those copies are put back where they were and listed, so the user decides
what to do with the edit; the files that went are listed too, and the caches and empty folders
they leave behind are removed. Copier passes the stage and versions as environment variables
(STAGE, VERSION_FROM, VERSION_TO); the template clone is the first argument.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import copier
import yaml

ANSWERS_FILE = ".copier-answers.yml"
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


def project_answers(project: Path) -> dict:
    """The answers of the project (Copier's own keys, starting with ``_``, left out)."""
    answers = yaml.safe_load((project / ANSWERS_FILE).read_text()) or {}
    return {key: value for key, value in answers.items() if not key.startswith("_")}


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


def record_dir(project: Path) -> Path:
    """Where the before stage leaves its record for the after stage (inside the git dir)."""
    git_dir = subprocess.run(
        ["git", "rev-parse", "--absolute-git-dir"],
        cwd=project,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return Path(git_dir) / "copier-dropped-files"


def before(template: str, project: Path, record: Path) -> None:
    """Save the user's changed copies of the files the new version no longer renders."""
    old_ref, new_ref = os.environ["VERSION_FROM"], os.environ.get("VERSION_TO", "HEAD")
    answers = project_answers(project)
    shutil.rmtree(record, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix="copier-migration-") as tmp:
        old_dir, new_dir = Path(tmp, "old"), Path(tmp, "new")
        old_files = render(template, old_ref, answers, old_dir)
        dropped = sorted(old_files - render(template, new_ref, answers, new_dir))
        changed = [
            relative
            for relative in dropped
            if (project / relative).is_file()
            and (project / relative).read_bytes() != (old_dir / relative).read_bytes()
        ]
    for relative in changed:
        copy = record / "kept" / relative
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(project / relative, copy)
    record.mkdir(parents=True, exist_ok=True)
    summary = {"from": old_ref, "to": new_ref, "dropped": [str(p) for p in dropped]}
    summary["changed"] = [str(p) for p in changed]
    (record / "dropped.json").write_text(json.dumps(summary))


def after(project: Path, record: Path) -> None:
    """Put the user's changed copies back, tidy up, and say what happened."""
    if not (record / "dropped.json").is_file():
        return
    summary = json.loads((record / "dropped.json").read_text())
    changed = [Path(p) for p in summary["changed"]]
    for relative in changed:
        target = project / relative
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(record / "kept" / relative, target)
    shutil.rmtree(record, ignore_errors=True)
    removed = [Path(p) for p in summary["dropped"] if Path(p) not in changed]
    prune_empty(project, {path.parent for path in removed})
    if removed:
        print(
            f"migration: {len(removed)} files the template no longer ships were removed"
            f" ({summary['from']} -> {summary['to']}):"
        )
        for path in removed:
            print(f"  - {path}")
    if changed:
        print(
            "migration: KEPT these files, which the template no longer ships, because you"
            " changed them; nothing uses them now. Move your change where it belongs (see"
            " CHANGELOG.md, 'Upgrading'), then delete them:"
        )
        for path in changed:
            print(f"  ! {path}")


def main() -> int:
    """Run the stage Copier asks for (STAGE=before or after)."""
    template, project = sys.argv[1], Path.cwd()
    record = record_dir(project)
    if os.environ.get("STAGE") == "before":
        before(template, project, record)
    else:
        after(project, record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
