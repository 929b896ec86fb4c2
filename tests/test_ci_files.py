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
    assert len(checkouts) == 2
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
        setup_uv = [
            s for s in steps(workflow) if s.get("uses", "").startswith("astral-sh/setup-uv@")
        ]
        assert len(setup_uv) == 1, name
        assert setup_uv[0]["with"] == {
            "version": UV_VERSION,
            "enable-cache": True,
            "cache-dependency-glob": "uv.lock",
        }
        assert "pip install uv" not in yaml.safe_dump(workflow)


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
