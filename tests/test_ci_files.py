"""The generated CI files are safe by construction: actions pinned by commit, no credentials
left on disk, least permissions, and the uv the template pins, its downloads cached."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from rendering import ROOT, render

UV_VERSION = yaml.safe_load((ROOT / "versions.yml").read_text())["uv_version"]["default"]
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
# Its version is the template's dagster-dg-cli pin, moved by `copier update` (renovate.json5).
TAG_PINNED = "dagster-io/dagster-cloud-action/"


@pytest.fixture(scope="module")
def github(template_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = {"ci": "github", "deploy": "dagster-plus"}
    return render(template_repo, tmp_path_factory.mktemp("gh") / "p", data)


def workflows(project: Path) -> dict[str, tuple[str, dict[str, Any]]]:
    found = {}
    for path in sorted((project / ".github" / "workflows").glob("*.yml")):
        text = path.read_text()
        found[path.name] = (text, yaml.safe_load(text))
    return found


def steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def test_every_action_is_pinned_by_commit_with_its_version(github: Path) -> None:
    for name, (text, workflow) in workflows(github).items():
        for step in steps(workflow):
            uses = step.get("uses")
            if uses is None or uses.startswith(TAG_PINNED):
                continue
            assert PINNED.match(uses), f"{name}: {uses} is not pinned by commit"
            line = next(line for line in text.splitlines() if uses in line)
            assert re.search(r"#\s*v\d+\.\d+\.\d+$", line), f"{name}: no version comment: {line}"


def test_checkout_leaves_no_credentials(github: Path) -> None:
    checkouts = [
        step
        for _, workflow in workflows(github).values()
        for step in steps(workflow)
        if step.get("uses", "").startswith("actions/checkout@")
    ]
    assert len(checkouts) == 3  # ci.yml, the Dagster+ deploy, the pull request's environment
    assert all(step["with"]["persist-credentials"] is False for step in checkouts)


def test_permissions_are_least(github: Path) -> None:
    found = workflows(github)
    assert found["ci.yml"][1]["permissions"] == {"contents": "read"}
    deploy = found["dagster-plus-deploy.yml"][1]
    assert deploy["permissions"] == {}
    assert deploy["jobs"]["secrets"]["permissions"] == {}
    assert deploy["jobs"]["dagster-cloud-deploy"]["permissions"] == {
        "contents": "read",
        "packages": "write",
        "pull-requests": "write",
    }


def test_github_installs_the_pinned_uv_and_caches_it(github: Path) -> None:
    for name, (_, workflow) in workflows(github).items():
        for job_name, job in workflow["jobs"].items():
            uses_uv = "uv " in yaml.safe_dump(job.get("steps", []))
            setup_uv = [
                s
                for s in job.get("steps", [])
                if s.get("uses", "").startswith("astral-sh/setup-uv@")
            ]
            assert len(setup_uv) == (1 if uses_uv else 0), f"{name}: {job_name}"
            for step in setup_uv:
                assert step["with"] == {
                    "version": UV_VERSION,
                    "enable-cache": True,
                    "cache-dependency-glob": "uv.lock",
                }
        assert "pip install uv" not in yaml.safe_dump(workflow)


def test_a_pull_requests_databricks_environment_is_deployed_then_dropped(github: Path) -> None:
    """The branch deployment's jobs and schema exist while the pull request is open (the pr
    target, checked by the preflight) and go when it closes; only with the Databricks
    secrets, never on a push to main."""
    job = workflows(github)["dagster-plus-deploy.yml"][1]["jobs"]["databricks-environment"]
    assert job["permissions"] == {"contents": "read"}
    assert "github.event_name == 'pull_request'" in job["if"]
    assert job["env"]["BRICKPIPES_PULL_REQUEST"] == "${{ github.event.pull_request.number }}"
    assert job["env"]["DATABRICKS_TOKEN"] == "${{ secrets.DATABRICKS_TOKEN }}"
    by_name = {step.get("name", ""): step for step in job["steps"]}
    deploy = by_name["Deploy the pull request's jobs and check its environment"]
    assert "github.event.action != 'closed'" in deploy["if"]
    assert 'bundle deploy -t pr --var pull_request="$BRICKPIPES_PULL_REQUEST"' in deploy["run"]
    assert "uv run brickpipes preflight --create" in deploy["run"]
    drop = by_name["Drop the pull request's jobs and schema"]
    assert "github.event.action == 'closed'" in drop["if"]
    assert "bundle destroy -t pr" in drop["run"] and "--auto-approve" in drop["run"]
    assert "uv run brickpipes drop-environment" in drop["run"]
    cli = next(s for s in job["steps"] if "setup-cli" in s.get("run", ""))
    assert re.search(r"setup-cli/v\d+\.\d+\.\d+/install\.sh", cli["run"])


def test_gitlab_installs_the_pinned_uv_and_caches_it(template_repo: Path, tmp_path: Path) -> None:
    data = {"ci": "gitlab", "deploy": "dagster-plus"}
    project = render(template_repo, tmp_path / "p", data)
    pipeline = yaml.safe_load((project / ".gitlab-ci.yml").read_text())
    for job in ("verify", "dagster-plus-deploy"):
        assert f'python -m pip install "uv=={UV_VERSION}"' in pipeline[job]["before_script"]
    verify = pipeline["verify"]
    assert verify["variables"]["UV_CACHE_DIR"] == "$CI_PROJECT_DIR/.uv-cache"
    assert ".uv-cache" in verify["cache"]["paths"]
    assert verify["cache"]["key"]["files"] == ["uv.lock"]
