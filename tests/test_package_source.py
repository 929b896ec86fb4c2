"""Rendered projects take brickpipes (production) and local-databricks (dev) from the template
repository they were rendered from, pinned to the rendered commit: `copier update` moves those
pins and nothing else."""

from __future__ import annotations

import difflib
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from pythons import find_python
from rendering import git, project_env, render
from test_update import commit_project, two_releases, update

__all__ = ["two_releases"]  # a fixture, used by name below


PACKAGES = ("brickpipes", "local-databricks")


def source(project: Path, package: str) -> dict:
    """The uv source of ``package`` in a rendered project."""
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    return pyproject["tool"]["uv"]["sources"][package]


def test_git_url_render_pins_the_packages_to_the_rendered_commit(
    template_repo: Path, tmp_path: Path
) -> None:
    project = render(f"git+file://{template_repo}", tmp_path / "p")
    for package in PACKAGES:
        assert source(project, package) == {
            "git": f"file://{template_repo}",
            "rev": git(template_repo, "rev-parse", "99.0.0^{commit}").strip(),
            "subdirectory": f"packages/{package}",
        }
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert "brickpipes" in pyproject["project"]["dependencies"]  # production
    assert "local-databricks" in pyproject["dependency-groups"]["dev"]


def test_local_folder_render_uses_the_template_folder(template_repo: Path, tmp_path: Path) -> None:
    project = render(template_repo, tmp_path / "p")
    for package in PACKAGES:
        assert source(project, package) == {
            "path": f"{template_repo}/packages/{package}",
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
    # One line per package: the old pin removed, the new one added.
    assert len(changed) == 2 * len(PACKAGES), changed
    assert all(old_rev in line for line in changed if line.startswith("-")), changed
    assert all(new_rev in line for line in changed if line.startswith("+")), changed


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
    rev = git(template_repo, "rev-parse", "99.0.0^{commit}").strip()
    for name in PACKAGES:
        (package,) = [p for p in lock["package"] if p["name"] == name]
        assert package["source"]["git"].startswith(f"file://{template_repo}")
        assert rev in package["source"]["git"]
        assert f"subdirectory=packages%2F{name}" in package["source"]["git"] or (
            f"subdirectory=packages/{name}" in package["source"]["git"]
        )


LOCAL_FOLDER_NOTE = "Rendered from a local folder"


@pytest.mark.parametrize("source", ["folder", "git-url"])
def test_a_render_from_a_local_folder_says_it_installs_on_this_machine_only(
    template_repo: Path, tmp_path: Path, source: str
) -> None:
    # The packages' sources name the template folder: teammates, CI and the image cannot
    # sync such a project, and the closing message and the README say so (a URL render not).
    template = str(template_repo) if source == "folder" else f"git+file://{template_repo}"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "copier",
            "copy",
            "--defaults",
            "--skip-tasks",
            "--data",
            "project_name=Sales Analytics",
            template,
            str(tmp_path / "p"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    message = " ".join((result.stdout + result.stderr).split())
    readme = (tmp_path / "p" / "README.md").read_text()
    local = source == "folder"
    assert (LOCAL_FOLDER_NOTE in message) == local
    assert (f"({template_repo}): pyproject.toml installs brickpipes" in message) == local
    assert ("This project was rendered from a local folder" in readme) == local
