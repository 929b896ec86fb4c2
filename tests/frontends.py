"""The cookiecutter and cruft front ends next to Copier: renders through each, and their diff.

Run as a script (``uvx nox -s compare_cookiecutter``) it renders every answer set of the
pairwise matrix through ``copier copy`` and through cookiecutter and prints every difference
but the answers file each tool writes; it exits 1 if there is one.
"""

from __future__ import annotations

import difflib
import filecmp
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from rendering import ROOT, render, snapshot_template

# The answers file each front end writes: Copier's, cruft's. Plain cookiecutter writes none.
ANSWERS_FILES = {".copier-answers.yml", ".cruft.json"}
SKIP_VERIFY = {"COPIER_DAGSTER_DATABRICKS_SKIP_VERIFY": "1"}


def isolate_cookiecutter(monkeypatch: Any, tmp_path_factory: Any) -> None:
    """Skip verification, and keep cookiecutter's replay files and clones in a temporary
    folder (COOKIECUTTER_CONFIG) instead of the home folder."""
    for name, value in SKIP_VERIFY.items():
        monkeypatch.setenv(name, value)
    folder = tmp_path_factory.mktemp("cookiecutter-home")
    config = folder / "config.yaml"
    config.write_text(f"cookiecutters_dir: {folder / 'clones'}\nreplay_dir: {folder / 'replay'}\n")
    monkeypatch.setenv("COOKIECUTTER_CONFIG", str(config))


def cookiecutter_render(template: Path, out: Path, data: dict[str, Any]) -> Path:
    """Render ``template`` with cookiecutter, no input, into ``out``; return the project folder.

    In process, as the cookiecutter CLI does; the hooks' verification is skipped (set
    SKIP_VERIFY in the environment) unless the caller wants it.
    """
    from cookiecutter.main import cookiecutter

    answers = {"project_name": "Sales Analytics", **data}
    return Path(
        cookiecutter(str(template), no_input=True, extra_context=answers, output_dir=str(out))
    )


def cruft_create(template: Path, out: Path, data: dict[str, Any]) -> Path:
    """Create a project from ``template`` with cruft, no input, into ``out``."""
    import cruft

    answers = {"project_name": "Sales Analytics", **data}
    return Path(cruft.create(str(template), output_dir=out, extra_context=answers, no_input=True))


def tree(folder: Path) -> dict[str, Path]:
    """Every file under ``folder`` by its relative path, the answers files and git's left out."""
    return {
        path.relative_to(folder).as_posix(): path
        for path in sorted(folder.rglob("*"))
        if path.is_file()
        and path.name not in ANSWERS_FILES
        and ".git" not in path.relative_to(folder).parts
    }


def differences(left: Path, right: Path) -> list[str]:
    """What differs between two renders: files only in one, and a unified diff per file."""
    a, b = tree(left), tree(right)
    found = [f"only in {left.name}: {name}" for name in sorted(a.keys() - b.keys())]
    found += [f"only in {right.name}: {name}" for name in sorted(b.keys() - a.keys())]
    for name in sorted(a.keys() & b.keys()):
        if filecmp.cmp(a[name], b[name], shallow=False):
            continue
        if (a[name].stat().st_mode & 0o111) != (b[name].stat().st_mode & 0o111):
            found.append(f"{name}: executable bit differs")
        old = a[name].read_text(errors="replace").splitlines(keepends=True)
        new = b[name].read_text(errors="replace").splitlines(keepends=True)
        diff = difflib.unified_diff(old, new, f"{left.name}/{name}", f"{right.name}/{name}")
        found.append("".join(diff) or f"{name}: bytes differ")
    return found


def compare(template: Path, work: Path, data: dict[str, Any]) -> list[str]:
    """Render ``data`` through Copier and cookiecutter under ``work``; return the differences."""
    copier_project = render(template, work / "copier", data)
    cookiecutter_project = cookiecutter_render(template, work / "cookiecutter", data)
    return differences(copier_project, cookiecutter_project)


def main() -> int:
    """Compare the two front ends over the pairwise matrix; print each difference."""
    from answers import case_id, pairwise_matrix

    os.environ.update(SKIP_VERIFY)
    failed = 0
    with tempfile.TemporaryDirectory(prefix="compare-front-ends-") as tmp:
        template = snapshot_template(Path(tmp) / "template", "99.0.0")
        sys.path.append(str(template))  # cookiecutter's local extension, as its CLI does
        cases = pairwise_matrix()
        for number, case in enumerate(cases, 1):
            found = compare(template, Path(tmp) / f"case-{number}", case)
            status = "identical" if not found else f"{len(found)} differences"
            print(f"[{number}/{len(cases)}] {case_id(case)}: {status}", flush=True)
            for difference in found:
                print(difference)
            failed += bool(found)
    print(f"{len(cases) - failed} of {len(cases)} answer sets render byte-identically")
    print(f"(copier copy vs cookiecutter; {', '.join(sorted(ANSWERS_FILES))} left out)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "tests"))
    sys.exit(main())
