"""A generated project stays current: Renovate moves the team's own dependencies and leaves the
template's pins to `copier update`; CI says when the template has a newer release, and never
fails or speaks when it cannot tell."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from rendering import git, render, snapshot_template
from user_edits import DEPENDENCY


def renovate_config(project: Path) -> dict:
    """renovate.json5 of a render: JSON with `//` comment lines (the subset the template uses)."""
    text = (project / "renovate.json5").read_text()
    return json.loads(
        "\n".join(line for line in text.splitlines() if not line.strip().startswith("//"))
    )


def requirement_names(project: Path) -> set[str]:
    """Names of every dependency the rendered pyproject.toml declares (all groups)."""
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    specs = list(pyproject["project"]["dependencies"])
    for group in pyproject.get("dependency-groups", {}).values():
        specs += [spec for spec in group if isinstance(spec, str)]
    return {re.match(r"[A-Za-z0-9._-]+", spec)[0].lower() for spec in specs}


def matches(rule: dict, package: str) -> bool:
    return any(fnmatch.fnmatchcase(package, pattern) for pattern in rule["matchPackageNames"])


@pytest.mark.parametrize("answers", [{}, {"deploy": "dagster-plus", "ci": "gitlab"}], ids=str)
def test_renovate_leaves_template_pins_to_copier_and_groups_dagster(
    template_repo: Path, tmp_path: Path, answers: dict
) -> None:
    project = render(template_repo, tmp_path / "project", data=answers)
    config = renovate_config(project)
    # pyproject.toml + uv.lock, and the workflows' actions (pinned by commit).
    assert config["enabledManagers"] == ["pep621", "github-actions"]
    assert config["lockFileMaintenance"]["enabled"] is True
    group, disabled, actions, dagster_action = config["packageRules"]
    assert actions["matchManagers"] == ["github-actions"] and actions["pinDigests"] is True
    assert dagster_action["matchPackageNames"] == ["dagster-io/dagster-cloud-action"]
    assert dagster_action["enabled"] is False
    assert group["groupName"] == "Dagster" and disabled["enabled"] is False
    family = ["dagster", "dagster-pipes", "dagster-databricks", "dagster-dg-cli", "dagster-dbt"]
    assert [name for name in family if not matches(group, name)] == []
    # Every pin the template renders is the template's: Renovate must not move it alone.
    template_pins = requirement_names(project)
    assert {"dagster", "brickpipes", "local-databricks", "ruff"} <= template_pins
    assert sorted(name for name in template_pins if not matches(disabled, name)) == []
    # What a team adds is Renovate's to update.
    team_dependency = re.match(r'\s*"([a-z]+)', DEPENDENCY)[1]
    assert not matches(disabled, team_dependency) and not matches(disabled, "dagster-dbt")


@pytest.fixture
def tagged_project(tmp_path: Path) -> tuple[Path, Path]:
    """A template repository tagged 1.0.0 and a committed project rendered from that tag."""
    template = snapshot_template(tmp_path / "template", "1.0.0")
    project = render(template, tmp_path / "project", vcs_ref="1.0.0")
    return template, project


def check(project: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k != "GITHUB_ACTIONS"}
    return subprocess.run(
        [sys.executable, "scripts/template_update.py"],
        cwd=project,
        capture_output=True,
        text=True,
        env={**clean, **env},
        timeout=60,
    )


def test_ci_check_names_a_newer_release(tagged_project: tuple[Path, Path]) -> None:
    template, project = tagged_project
    assert check(project).stdout == ""  # on the newest release: nothing to say
    git(template, "tag", "1.1.0")
    git(template, "tag", "not-a-release")
    result = check(project)
    assert result.returncode == 0
    assert "newer release, 1.1.0 (this project: 1.0.0)" in result.stdout
    assert "copier update --trust" in result.stdout
    github = check(project, GITHUB_ACTIONS="true")
    assert github.stdout.startswith("::notice title=Template update available::")


def test_ci_check_reads_a_commit_after_a_tag(tagged_project: tuple[Path, Path]) -> None:
    template, project = tagged_project
    answers = project / ".copier-answers.yml"
    answers.write_text(answers.read_text().replace("_commit: 1.0.0", "_commit: 1.0.0-3-g1a2b3c4"))
    git(template, "tag", "v2.0.0")
    assert "newer release, v2.0.0 (this project: 1.0.0-3-g1a2b3c4)" in check(project).stdout


@pytest.mark.parametrize(
    "src_path",
    ["/nonexistent/template", "https://127.0.0.1:9/template.git", "git+file:///nonexistent"],
    ids=["missing-path", "unreachable-url", "missing-git-url"],
)
def test_ci_check_is_silent_when_it_cannot_tell(
    tagged_project: tuple[Path, Path], src_path: str
) -> None:
    template, project = tagged_project
    git(template, "tag", "1.1.0")
    answers = project / ".copier-answers.yml"
    answers.write_text(
        answers.read_text().replace(f"_src_path: {template}", f"_src_path: {src_path}")
    )
    result = check(project)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_ci_check_never_reads_src_path_as_an_option(
    tagged_project: tuple[Path, Path], tmp_path: Path
) -> None:
    """An answers file is data: a hostile `_src_path` reaches git after `--`, as a repository
    that does not exist, and runs nothing (it used to run the command in CI)."""
    template, project = tagged_project
    git(template, "tag", "1.1.0")
    # A clone of the template: with the option taken as one, git would list its `origin`.
    git(project, "init", "--quiet", "--initial-branch=main")
    git(project, "remote", "add", "origin", str(template))
    pwned = tmp_path / "pwned"
    hostile = f"'--upload-pack=touch {pwned}; git-upload-pack'"
    answers = project / ".copier-answers.yml"
    answers.write_text(
        answers.read_text().replace(f"_src_path: {template}", f"_src_path: {hostile}")
    )
    result = check(project)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert not pwned.exists()


@pytest.mark.parametrize("answers_text", ["", "_commit: 1a2b3c4d\n", "::: not yaml"])
def test_ci_check_is_silent_without_a_release_to_compare(
    tagged_project: tuple[Path, Path], answers_text: str
) -> None:
    template, project = tagged_project
    git(template, "tag", "1.1.0")
    (project / ".copier-answers.yml").write_text(answers_text + f"_src_path: {template}\n")
    result = check(project)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_ci_runs_the_check_without_letting_it_fail(template_repo: Path, tmp_path: Path) -> None:
    github = render(template_repo, tmp_path / "github")
    workflow = (github / ".github" / "workflows" / "ci.yml").read_text()
    step = workflow[workflow.index("- name: Template release check") :].split("\n      - ")[0]
    assert "run: python scripts/template_update.py" in step
    assert "continue-on-error: true" in step
    gitlab = render(template_repo, tmp_path / "gitlab", data={"ci": "gitlab"})
    assert (
        "- python scripts/template_update.py || true\n" in (gitlab / ".gitlab-ci.yml").read_text()
    )
