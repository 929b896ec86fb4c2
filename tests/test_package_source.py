"""Rendered projects take local-databricks from the template repository they were rendered
from, pinned to the rendered commit: `copier update` moves that pin and nothing else."""

from __future__ import annotations

import difflib
import subprocess
import tomllib
from pathlib import Path

import pytest
from pythons import find_python
from rendering import git, project_env, render
from test_update import commit_project, two_releases, update

__all__ = ["two_releases"]  # a fixture, used by name below


def source(project: Path) -> dict:
    """The uv source of local-databricks in a rendered project."""
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    return pyproject["tool"]["uv"]["sources"]["local-databricks"]


def test_git_url_render_pins_the_package_to_the_rendered_commit(
    template_repo: Path, tmp_path: Path
) -> None:
    project = render(f"git+file://{template_repo}", tmp_path / "p")
    assert source(project) == {
        "git": f"file://{template_repo}",
        "rev": git(template_repo, "rev-parse", "99.0.0^{commit}").strip(),
        "subdirectory": "packages/local-databricks",
    }
    assert (
        "local-databricks"
        in tomllib.loads((project / "pyproject.toml").read_text())["dependency-groups"]["dev"]
    )


def test_local_folder_render_uses_the_template_folder(template_repo: Path, tmp_path: Path) -> None:
    project = render(template_repo, tmp_path / "p")
    assert source(project) == {
        "path": f"{template_repo}/packages/local-databricks",
        "editable": True,
    }


def test_update_moves_the_pin_and_nothing_else(two_releases: Path, tmp_path: Path) -> None:
    url = f"git+file://{two_releases}"
    project = render(url, tmp_path / "p", vcs_ref="1.0.0")
    commit_project(project)
    before = (project / "pyproject.toml").read_text()
    update(project, "2.0.0")
    changed = [
        line
        for line in difflib.unified_diff(
            before.splitlines(), (project / "pyproject.toml").read_text().splitlines(), n=0
        )
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    old_rev = git(two_releases, "rev-parse", "1.0.0^{commit}").strip()
    new_rev = git(two_releases, "rev-parse", "2.0.0^{commit}").strip()
    assert len(changed) == 2 and old_rev in changed[0] and new_rev in changed[1], changed


@pytest.mark.toolchain
def test_uv_resolves_the_pinned_package_from_the_template_repo(
    template_repo: Path, tmp_path: Path
) -> None:
    python = find_python("3.12")
    if python is None:
        pytest.skip("Python 3.12 (the default python_version) is not installed here")
    project = render(f"git+file://{template_repo}", tmp_path / "p")
    result = subprocess.run(
        ["uv", "lock"], cwd=project, env=project_env(python), capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    lock = tomllib.loads((project / "uv.lock").read_text())
    (package,) = [p for p in lock["package"] if p["name"] == "local-databricks"]
    rev = git(template_repo, "rev-parse", "99.0.0^{commit}").strip()
    assert package["source"]["git"].startswith(f"file://{template_repo}")
    assert rev in package["source"]["git"]
    assert "subdirectory=packages%2Flocal-databricks" in package["source"]["git"] or (
        "subdirectory=packages/local-databricks" in package["source"]["git"]
    )
