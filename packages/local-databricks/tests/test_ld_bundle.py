"""local_databricks.bundle: a project's Databricks Asset Bundle read as the CLI reads it, and
its jobs deployed to local Databricks as `databricks bundle deploy` deploys them."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ld_helpers import make_client

from local_databricks.bundle import BundleError, deploy_bundle, load_bundle


def write_bundle(root: Path, job: dict) -> Path:
    """A bundle of one job ``j`` (``resources/j.job.yml``) in ``root``."""
    (root / "resources").mkdir()
    config = {
        "bundle": {"name": "t"},
        "include": ["resources/*.yml"],
        "targets": {"dev": {"default": True, "workspace": {"root_path": "/Workspace/Shared/t"}}},
    }
    (root / "databricks.yml").write_text(yaml.safe_dump(config))
    resource = {"resources": {"jobs": {"j": job}}}
    (root / "resources" / "j.job.yml").write_text(yaml.safe_dump(resource))
    return root


def test_a_scheduled_job_is_refused(tmp_path: Path) -> None:
    write_bundle(tmp_path, {"name": "j", "schedule": {"quartz_cron_expression": "0 0 3 * * ?"}})
    with pytest.raises(BundleError, match="job 'j' has schedule; Dagster decides"):
        load_bundle(tmp_path)


def test_an_unknown_reference_is_named(tmp_path: Path) -> None:
    write_bundle(tmp_path, {"name": "${var.missing}"})
    with pytest.raises(BundleError, match=r"unknown reference \$\{var.missing\}"):
        load_bundle(tmp_path)


def test_a_missing_task_file_is_named(tmp_path: Path) -> None:
    task = {"task_key": "a", "spark_python_task": {"python_file": "../jobs/a.py"}}
    write_bundle(tmp_path, {"name": "j", "tasks": [task]})
    with pytest.raises(BundleError, match=r"task 'a' names \.\./jobs/a\.py"):
        load_bundle(tmp_path)


def test_an_unknown_target_lists_the_targets(tmp_path: Path) -> None:
    write_bundle(tmp_path, {"name": "j"})
    with pytest.raises(BundleError, match=r"no target 'staging'; its targets: \['dev'\]"):
        load_bundle(tmp_path, "staging")


def test_a_variable_comes_from_the_environment(tmp_path: Path, monkeypatch) -> None:
    write_bundle(tmp_path, {"name": "${var.suffix}"})
    config = tmp_path / "databricks.yml"
    config.write_text(config.read_text() + "variables: {suffix: {default: a}}\n")
    assert load_bundle(tmp_path).jobs["j"]["name"] == "a"
    monkeypatch.setenv("BUNDLE_VAR_suffix", "b")
    assert load_bundle(tmp_path).jobs["j"]["name"] == "b"


def test_deploy_uploads_task_files_and_creates_then_resets_the_job(
    tmp_path: Path, local_databricks
) -> None:
    (tmp_path / "jobs").mkdir()
    (tmp_path / "jobs" / "a.py").write_text("print('a')\n")
    task = {
        "task_key": "a",
        "spark_python_task": {"python_file": "../jobs/a.py"},
        "environment_key": "default",
    }
    environments = [{"environment_key": "default", "spec": {"environment_version": "2"}}]
    write_bundle(
        tmp_path, {"name": "${bundle.name}: j", "tasks": [task], "environments": environments}
    )
    [job_id] = deploy_bundle(local_databricks, tmp_path)
    assert deploy_bundle(local_databricks, tmp_path) == [job_id]  # reset, not a second job
    w = make_client(local_databricks)
    settings = w.jobs.get(job_id).settings
    assert settings is not None and settings.name == "t: j"
    path = settings.tasks[0].spark_python_task.python_file  # type: ignore[index, union-attr]
    assert path == "/Workspace/Shared/t/files/jobs/a.py"
    with w.workspace.download(path.removeprefix("/Workspace")) as handle:
        assert handle.read() == b"print('a')\n"
    assert [job.job_id for job in w.jobs.list(name="t: j")] == [job_id]
