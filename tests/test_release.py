"""`nox -s release -- X.Y.Z` (tools/release.py), on a scratch clone of the template repository:
the changelog section, the tag, the releases.yml entry naming the tagged commit, and refusals
that change nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from rendering import ROOT, git

SCRIPT = ROOT / "tools" / "release.py"
DATE = "2026-12-01"
CHANGELOG = """# Changelog

All notable changes to the template.

## Unreleased

### Changed
- The layout moved.

### Upgrading (from {previous})
- Run `copier update --trust`.

## {previous} (commit 2ffe616)

### Added
- Everything.
"""


def next_version(version: str) -> str:
    major, minor, _ = (int(part) for part in version.split("."))
    return f"{major}.{minor + 1}.0"


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """A clone of the committed template repository, with a known changelog committed."""
    repo = tmp_path / "clone"
    git(tmp_path, "clone", "--quiet", "--no-local", str(ROOT), str(repo))
    latest = yaml.safe_load((repo / "releases.yml").read_text())[-1]["version"]
    (repo / "CHANGELOG.md").write_text(CHANGELOG.format(previous=latest))
    git(repo, "commit", "--quiet", "-m", "changelog", "--", "CHANGELOG.md")
    return repo


def run_release(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(SCRIPT), *args, "--repo", str(repo), "--date", DATE]
    names = ("GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL")
    env = {**os.environ, **dict.fromkeys(names[:2], "tests"), **dict.fromkeys(names[2:], "t@x.org")}
    return subprocess.run(command, capture_output=True, text=True, env=env)


def latest(repo: Path) -> str:
    return yaml.safe_load((repo / "releases.yml").read_text())[-1]["version"]


def test_release_tags_the_changelog_commit_and_records_it(clone: Path) -> None:
    previous = latest(clone)
    version = next_version(previous)
    before = git(clone, "rev-parse", "HEAD").strip()
    result = run_release(clone, version, "--notes", "the package layout")
    assert result.returncode == 0, result.stderr
    assert f"git push origin HEAD {version}" in result.stdout

    release_commit = git(clone, "rev-parse", "HEAD~1").strip()
    assert git(clone, "rev-parse", "HEAD~2").strip() == before
    # The tag (annotated) names the changelog commit, which releases.yml records.
    assert git(clone, "rev-parse", f"{version}^{{commit}}").strip() == release_commit
    assert git(clone, "cat-file", "-t", version).strip() == "tag"
    entry = yaml.safe_load((clone / "releases.yml").read_text())[-1]
    assert entry == {"version": version, "commit": release_commit, "notes": "the package layout"}
    changed = git(clone, "show", "--name-only", "--format=", "HEAD~1").split()
    assert sorted(changed) == ["CHANGELOG.md", "pyproject.toml"]
    assert git(clone, "show", "--name-only", "--format=", "HEAD").split() == ["releases.yml"]
    assert git(clone, "status", "--porcelain") == ""

    changelog = (clone / "CHANGELOG.md").read_text()
    assert changelog.startswith(
        "# Changelog\n\nAll notable changes to the template.\n\n## Unreleased\n\n"
        f"## {version} ({DATE})\n\n### Changed\n- The layout moved.\n\n"
        f"### Upgrading (from {previous})\n- Run `copier update --trust`.\n\n"
        f"## {previous} (commit 2ffe616)\n"
    )
    assert f'version = "{version}"' in (clone / "pyproject.toml").read_text()
    # The suite's history helper replays the new release like the others.
    assert has_release_tree(clone, release_commit)


def has_release_tree(repo: Path, commit: str) -> bool:
    files = git(repo, "ls-tree", "-r", "--name-only", commit).split()
    return "copier.yml" in files and "CHANGELOG.md" in files


def test_release_refuses_a_dirty_tree(clone: Path) -> None:
    (clone / "README.md").write_text("changed\n")
    (clone / "stray.txt").write_text("new\n")
    before = state(clone)
    result = run_release(clone, next_version(latest(clone)))
    assert result.returncode == 1
    assert "not clean" in result.stderr and "README.md" in result.stderr
    assert "stray.txt" in result.stderr
    assert state(clone) == before


@pytest.mark.parametrize(
    ("version", "message"),
    [
        ("v1.0", "must be MAJOR.MINOR.PATCH, e.g. 0.2.0; got 'v1.0'"),
        ("1.2.03", "must be MAJOR.MINOR.PATCH"),
        ("0.0.1", "is not newer than the latest release"),
        ("LATEST", "is already in releases.yml"),
    ],
)
def test_release_refuses_a_bad_version(clone: Path, version: str, message: str) -> None:
    before = state(clone)
    version = latest(clone) if version == "LATEST" else version
    result = run_release(clone, version)
    assert result.returncode == 1
    assert message in result.stderr
    assert state(clone) == before


def test_release_refuses_an_existing_tag(clone: Path) -> None:
    version = next_version(latest(clone))
    git(clone, "tag", version)
    before = state(clone)
    result = run_release(clone, version)
    assert result.returncode == 1 and f"tag {version} exists already" in result.stderr
    assert state(clone) == before


def test_release_refuses_an_empty_unreleased_section(clone: Path) -> None:
    changelog = clone / "CHANGELOG.md"
    text = changelog.read_text()
    start, end = text.index("## Unreleased"), text.index(f"## {latest(clone)} ")
    changelog.write_text(text[:start] + "## Unreleased\n\n### Changed\n\n" + text[end:])
    git(clone, "commit", "--quiet", "--all", "-m", "empty")
    before = state(clone)
    result = run_release(clone, next_version(latest(clone)))
    assert result.returncode == 1 and "has no entry: nothing to release" in result.stderr
    assert state(clone) == before


def state(repo: Path) -> tuple[str, str, str]:
    """HEAD, the tags and the status: a refused release changes none of them."""
    return tuple(git(repo, *args) for args in (["rev-parse", "HEAD"], ["tag"], ["status", "-s"]))
