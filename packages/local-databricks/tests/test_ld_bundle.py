"""local_databricks.bundle: a project's Databricks Asset Bundle read as the CLI reads it, and
its jobs deployed to local Databricks as `databricks bundle deploy` deploys them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from ld_helpers import make_client

from local_databricks.bundle import (
    BundleError,
    Connection,
    CurrentUser,
    deploy_bundle,
    destroy_bundle,
    domain_friendly_name,
    load_bundle,
    main,
    short_name,
)

JANE = CurrentUser("jane.doe@example.com", "Jane Doe")
# The environments of a project's bundle, as `databricks bundle init default-python` has them.
ENVIRONMENTS = """
bundle: {name: shop}
include: [resources/*.yml]
variables:
  catalog: {description: Catalog, default: main}
  schema: {description: Schema, default: sales}
  pull_request: {description: Pull request number (target pr), default: ""}
targets:
  dev:
    default: true
    mode: development
    variables:
      schema: sales_dev_${workspace.current_user.short_name}
  pr:
    presets:
      name_prefix: "[pr ${var.pull_request}] "
      trigger_pause_status: PAUSED
    workspace:
      root_path: /Workspace/Shared/dagster/${bundle.name}/pr-${var.pull_request}
    variables:
      schema: sales_pr_${var.pull_request}
  prod:
    mode: production
    workspace:
      root_path: /Workspace/Shared/dagster/${bundle.name}/${bundle.target}
"""
ORDERS = """
resources:
  jobs:
    orders:
      name: "${bundle.name}: orders"
      schedule: {quartz_cron_expression: "0 0 3 * * ?", timezone_id: UTC}
      parameters:
        - {name: catalog, default: "${var.catalog}"}
        - {name: schema, default: "${var.schema}"}
      tasks:
        - task_key: load
          spark_python_task:
            python_file: ../jobs/orders.py
            parameters: ["{{job.parameters.schema}}", "{{task.name}}", "{{job.id}}"]
          environment_key: default
      environments:
        - {environment_key: default, spec: {environment_version: "2"}}
"""


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


def write_environments(root: Path) -> Path:
    """The ``shop`` bundle (dev, pr, prod targets) with its ``orders`` job, in ``root``."""
    (root / "resources").mkdir(parents=True)
    (root / "jobs").mkdir()
    (root / "jobs" / "orders.py").write_text("print('orders')\n")
    (root / "databricks.yml").write_text(ENVIRONMENTS)
    (root / "resources" / "orders.job.yml").write_text(ORDERS)
    return root


@contextmanager
def edit_config(root: Path) -> Iterator[dict]:
    """``root/databricks.yml`` as a dict, written back after the block."""
    path = root / "databricks.yml"
    config = yaml.safe_load(path.read_text())
    yield config
    path.write_text(yaml.safe_dump(config))


def oauth_token(server, client_id: str, client_secret: str) -> str:
    """An OAuth M2M token of a service principal of ``server``."""
    import requests

    answer = requests.post(
        f"{server.url}/oidc/v1/token",
        data={"grant_type": "client_credentials", "scope": "all-apis"},
        auth=(client_id, client_secret),
        timeout=10,
    )
    return answer.json()["access_token"]


@pytest.mark.parametrize(
    ("user_name", "display_name", "expected"),
    [  # the cases of the CLI's own tests (libs/iamutil/user_test.go)
        ("test.user.1234@example.com", None, "test_user_1234"),
        ("tést.üser@example.com", None, "tést_üser"),
        ("test$.user@example.com", None, "test_user"),
        ("first+tag@email.com", None, "first_tag"),
        ('"_quoted"@domain.com', None, "quoted"),
        ("name-o'mally@website.org", None, "name_o_mally"),
        ("Jane.Doe@Example.com", "Jane Doe", "jane_doe"),
        ("1706906c-c0a2-4c25-9f57-3a7aa3cb8123", "my-service-principal", "my_service_principal"),
        ("1706906c-c0a2-4c25-9f57-3a7aa3cb8123", None, "1706906c_c0a2_4c25_9f57_3a7aa3cb8123"),
        ("ci-bot", "CI Bot", "ci_bot"),  # not a UUID: not a service principal's name
    ],
)
def test_short_name_is_the_clis(user_name: str, display_name: str | None, expected: str) -> None:
    assert short_name(user_name, display_name) == expected


def test_domain_friendly_name_drops_accents_and_uses_dashes() -> None:
    assert domain_friendly_name("jöhn.dœ+x@example.com") == "john-d--x"  # œ is not ASCII
    assert CurrentUser("Jane.Doe@example.com").domain_friendly_name == "jane-doe"


def test_development_mode_names_pauses_tags_and_roots_in_the_users_home(tmp_path: Path) -> None:
    write_environments(tmp_path)
    bundle = load_bundle(tmp_path, current_user=JANE)
    job = bundle.jobs["orders"]
    assert bundle.target == "dev"
    assert job["name"] == "[dev jane_doe] shop: orders"
    assert job["schedule"]["pause_status"] == "PAUSED"
    assert job["tags"] == {"dev": "jane_doe"}
    assert job["max_concurrent_runs"] == 4
    assert bundle.root_path == "/Workspace/Users/jane.doe@example.com/.bundle/shop/dev"
    python_file = job["tasks"][0]["spark_python_task"]["python_file"]
    assert python_file == f"{bundle.root_path}/files/jobs/orders.py"
    assert job["parameters"] == [
        {"name": "catalog", "default": "main"},
        {"name": "schema", "default": "sales_dev_jane_doe"},
    ]
    # Dynamic value references are the run's to resolve.
    parameters = job["tasks"][0]["spark_python_task"]["parameters"]
    assert parameters == ["{{job.parameters.schema}}", "{{task.name}}", "{{job.id}}"]


def test_what_the_job_sets_wins_over_development_mode(tmp_path: Path) -> None:
    job = {
        "name": "j",
        "tags": {"dev": "team"},
        "max_concurrent_runs": 1,
        "trigger": {"pause_status": "UNPAUSED", "periodic": {"interval": 1, "unit": "HOURS"}},
        "continuous": {},
    }
    write_bundle(tmp_path, job)
    with edit_config(tmp_path) as config:
        config["targets"]["dev"]["mode"] = "development"
    settings = load_bundle(tmp_path, current_user=JANE).jobs["j"]
    assert settings["name"] == "[dev jane_doe] j"
    assert settings["tags"] == {"dev": "team"}
    assert settings["max_concurrent_runs"] == 1
    assert settings["trigger"]["pause_status"] == "UNPAUSED"
    assert settings["continuous"] == {"pause_status": "PAUSED"}
    assert load_bundle(tmp_path, current_user=JANE).root_path == "/Workspace/Shared/t"


def test_development_mode_needs_the_current_user(tmp_path: Path) -> None:
    write_environments(tmp_path)
    with pytest.raises(BundleError, match=r"development mode.*current_user="):
        load_bundle(tmp_path, "dev")


def test_presets_apply_and_name_prefix_is_taken_as_given(tmp_path: Path) -> None:
    write_environments(tmp_path)
    bundle = load_bundle(tmp_path, "pr", {"pull_request": "42"}, current_user=JANE)
    job = bundle.jobs["orders"]
    assert job["name"] == "[pr 42] shop: orders"
    assert job["schedule"]["pause_status"] == "PAUSED"
    assert "tags" not in job and "max_concurrent_runs" not in job
    assert bundle.root_path == "/Workspace/Shared/dagster/shop/pr-42"
    assert bundle.variables == {"catalog": "main", "schema": "sales_pr_42", "pull_request": "42"}
    # The CLI prepends the prefix as it is: no space is added.
    with edit_config(tmp_path) as config:
        presets = config["targets"]["pr"]["presets"]
        presets |= {"name_prefix": "pr_${var.pull_request}_", "tags": {"env": "pr"}}
        presets["jobs_max_concurrent_runs"] = 2
    job = load_bundle(tmp_path, "pr", {"pull_request": "7"}).jobs["orders"]
    assert job["name"] == "pr_7_shop: orders"
    assert (job["tags"], job["max_concurrent_runs"]) == ({"env": "pr"}, 2)


def test_a_wrong_pause_status_is_refused(tmp_path: Path) -> None:
    write_environments(tmp_path)
    with edit_config(tmp_path) as config:
        config["targets"]["pr"]["presets"]["trigger_pause_status"] = "OFF"
    with pytest.raises(BundleError, match="trigger_pause_status must be PAUSED or UNPAUSED"):
        load_bundle(tmp_path, "pr")


def test_production_keeps_names_and_needs_a_root_path(tmp_path: Path) -> None:
    write_environments(tmp_path)
    bundle = load_bundle(tmp_path, "prod")
    assert bundle.jobs["orders"]["name"] == "shop: orders"
    assert "pause_status" not in bundle.jobs["orders"]["schedule"]
    assert bundle.root_path == "/Workspace/Shared/dagster/shop/prod"
    with edit_config(tmp_path) as config:
        del config["targets"]["prod"]["workspace"]
    with pytest.raises(BundleError, match=r"mode: production, which must set workspace\.root_path"):
        load_bundle(tmp_path, "prod", current_user=JANE)


def test_variable_overrides_come_before_the_environment_and_the_target(
    tmp_path: Path, monkeypatch
) -> None:
    write_environments(tmp_path)
    monkeypatch.setenv("BUNDLE_VAR_schema", "from_env")
    assert load_bundle(tmp_path, "prod").variables["schema"] == "from_env"
    assert load_bundle(tmp_path, "dev", current_user=JANE).variables["schema"] == "from_env"
    overridden = load_bundle(tmp_path, "prod", {"schema": "s_${bundle.target}", "catalog": "c"})
    assert overridden.variables == {"catalog": "c", "schema": "s_prod", "pull_request": ""}
    parameters = overridden.jobs["orders"]["parameters"]
    assert [p["default"] for p in parameters] == ["c", "s_prod"]


def test_a_variable_without_a_value_says_how_to_pass_it(tmp_path: Path) -> None:
    write_environments(tmp_path)
    with edit_config(tmp_path) as config:
        del config["variables"]["pull_request"]["default"]
    with pytest.raises(BundleError, match=r"variable 'pull_request' has no value for target 'pr'"):
        load_bundle(tmp_path, "pr")
    with pytest.raises(BundleError, match=r"--var pull_request=<value>"):
        load_bundle(tmp_path, "prod")
    assert load_bundle(tmp_path, "pr", {"pull_request": 5}).root_path.endswith("/pr-5")


def test_an_undeclared_variable_is_refused(tmp_path: Path) -> None:
    write_environments(tmp_path)
    with pytest.raises(BundleError, match=r"variable 'pr' is given a value .* not declared"):
        load_bundle(tmp_path, "prod", {"pr": "1"})


def test_targets_and_users_deploy_apart_and_redeploy_in_place(
    tmp_path: Path, local_databricks
) -> None:
    root = write_environments(tmp_path / "bundle")
    server = local_databricks
    robot = Connection(server.url, oauth_token(server, server.client_id, server.client_secret))
    robot_short = server.client_id.replace("-", "_")
    deployed = {
        "dev": deploy_bundle(server, root),
        "dev robot": deploy_bundle(robot, root),
        "pr 42": deploy_bundle(server, root, "pr", {"pull_request": "42"}),
        "pr 43": deploy_bundle(server, root, "pr", {"pull_request": "43"}),
        "prod": deploy_bundle(server, root, "prod"),
    }
    assert len({job_id for ids in deployed.values() for job_id in ids}) == 5
    w = make_client(server)
    names = {job.settings.name: job.job_id for job in w.jobs.list()}  # type: ignore[union-attr]
    assert names == {
        "[dev local_user] shop: orders": deployed["dev"][0],
        f"[dev {robot_short}] shop: orders": deployed["dev robot"][0],
        "[pr 42] shop: orders": deployed["pr 42"][0],
        "[pr 43] shop: orders": deployed["pr 43"][0],
        "shop: orders": deployed["prod"][0],
    }
    # Each deployment's files are under its own root path.
    for path in (
        "/Users/local.user@example.com/.bundle/shop/dev/files/jobs/orders.py",
        f"/Users/{server.client_id}/.bundle/shop/dev/files/jobs/orders.py",
        "/Shared/dagster/shop/pr-42/files/jobs/orders.py",
        "/Shared/dagster/shop/prod/files/jobs/orders.py",
    ):
        with w.workspace.download(path) as handle:
            assert handle.read() == b"print('orders')\n"
    settings = w.jobs.get(deployed["dev robot"][0]).settings
    assert settings is not None and settings.parameters is not None
    assert settings.parameters[1].default == f"sales_dev_{robot_short}"
    assert deploy_bundle(server, root, "pr", {"pull_request": "42"}) == deployed["pr 42"]
    assert deploy_bundle(robot, root) == deployed["dev robot"]


def test_a_service_principal_is_named_after_its_display_name(
    tmp_path: Path, local_databricks
) -> None:
    application_id = "1706906c-c0a2-4c25-9f57-3a7aa3cb8123"
    local_databricks.register_tokens(client_id=application_id, client_secret="s")
    robot = Connection(local_databricks.url, oauth_token(local_databricks, application_id, "s"))
    [job_id] = deploy_bundle(robot, write_environments(tmp_path / "bundle"))
    name = make_client(local_databricks).jobs.get(job_id).settings.name  # type: ignore[union-attr]
    assert name == f"[dev service_principal_{application_id.replace('-', '_')}] shop: orders"


def test_destroy_deletes_the_targets_jobs_and_root_path_only(
    tmp_path: Path, local_databricks
) -> None:
    root = write_environments(tmp_path / "bundle")
    [dev] = deploy_bundle(local_databricks, root)
    [pr] = deploy_bundle(local_databricks, root, "pr", {"pull_request": "42"})
    [prod] = deploy_bundle(local_databricks, root, "prod")
    destroyed = destroy_bundle(local_databricks, root, "pr", {"pull_request": "42"})
    assert destroyed.jobs == {"orders": pr}
    assert destroyed.root_path == "/Workspace/Shared/dagster/shop/pr-42"
    w = make_client(local_databricks)
    assert sorted(job.job_id for job in w.jobs.list()) == sorted([dev, prod])  # type: ignore[type-var]
    assert [item.path for item in w.workspace.list("/Shared/dagster/shop")] == [
        "/Shared/dagster/shop/prod"
    ]
    again = destroy_bundle(local_databricks, root, "pr", {"pull_request": "42"})
    assert (again.jobs, again.root_path) == ({}, None)


def test_the_command_line_deploys_and_destroys(tmp_path: Path, local_databricks, capsys) -> None:
    root = str(write_environments(tmp_path / "bundle"))
    auth = ["--url", local_databricks.url, "--token", local_databricks.token]
    assert main(["deploy", *auth, "-t", "pr", "--var", "pull_request=9", root]) == 0
    assert "orders: job " in capsys.readouterr().out
    w = make_client(local_databricks)
    assert [job.settings.name for job in w.jobs.list()] == ["[pr 9] shop: orders"]  # type: ignore[union-attr]
    assert main(["destroy", *auth, "-t", "pr", "--var", "pull_request=9", root]) == 0
    assert "Deleted /Workspace/Shared/dagster/shop/pr-9" in capsys.readouterr().out
    assert list(w.jobs.list()) == []
    assert main(["deploy", *auth, "-t", "pr", root]) == 0  # pull_request defaults to ""
    assert main(["deploy", *auth, "-t", "qa", root]) == 2
    assert "no target 'qa'" in capsys.readouterr().out


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
