"""The ``DatabricksPipesScript`` component: scaffolded as ``dg scaffold defs`` does, validated
when the definitions load, and materialized end to end against local Databricks."""

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import pytest
from dagster.components.testing import DefsFolderSandbox, create_defs_folder_sandbox
from dagster_results import failure_text
from sample_project import CLUSTER_PROFILES

from brickpipes import DatabricksPipesScript

TYPE_NAME = "brickpipes.DatabricksPipesScript"


def error_chain(error: BaseException | None) -> str:
    """Every message of an exception and its causes (Dagster wraps a component's error)."""
    messages = []
    while error is not None:
        messages.append(str(error))
        error = error.__cause__ or error.__context__
    return "\n".join(messages)


@contextmanager
def project_sandbox() -> Iterator[DefsFolderSandbox]:
    """A project's defs folder, with the project's clusters.yml next to its root package."""
    with create_defs_folder_sandbox() as sandbox:
        package = sandbox.defs_folder_path.parent
        (package / "__init__.py").touch()
        shutil.copy(CLUSTER_PROFILES, package / "clusters.yml")
        yield sandbox


def test_the_component_is_registered_for_dg() -> None:
    # What `dg list components` lists (and `dg scaffold defs` accepts): the objects of every
    # registry module of the environment's `dagster_dg_cli.registry_modules` entry points.
    from dagster.components.core.package_entry import discover_entry_point_package_objects

    assert TYPE_NAME in {key.to_typename() for key in discover_entry_point_package_objects()}


def test_a_scaffolded_asset_materializes_on_local_databricks(local_workspace, project) -> None:
    with project_sandbox() as sandbox:
        path = sandbox.scaffold_component(DatabricksPipesScript, defs_path="my_asset")
        assert sorted(p.name for p in path.iterdir()) == ["defs.yaml", "my_asset.py"]
        with sandbox.load_component_and_build_defs(defs_path=path) as (component, built):
            assert isinstance(component, DatabricksPipesScript)
            assets = [a for a in built.assets or [] if isinstance(a, dg.AssetsDefinition)]
            result = dg.materialize(assets, resources=project.resources(), raise_on_error=False)
    assert result.success, failure_text(result)
    (event,) = result.get_asset_materialization_events()
    assert event.asset_key == dg.AssetKey("my_asset")
    assert event.materialization.metadata["rows"].value == 0
    (run,) = local_workspace.runs()
    assert run["state"]["result_state"] == "SUCCESS"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"script": "missing.py"}, "script 'missing.py' does not exist"),
        ({"profile": "huge"}, "unknown profile 'huge' (valid: general, small)"),
        ({"overrides": {"num_wokers": 1}}, "profile 'small': num_wokers"),
        ({"cluster": "x"}, "cluster"),
    ],
    ids=["missing-script", "unknown-profile", "bad-override", "unknown-field"],
)
def test_mistakes_fail_when_the_definitions_load(change: dict, message: str) -> None:
    with project_sandbox() as sandbox:
        path = sandbox.scaffold_component(DatabricksPipesScript, defs_path="my_asset")
        spec = {
            "type": TYPE_NAME,
            "attributes": {"script": "my_asset.py", "asset": {"key": "my_asset"}, **change},
        }
        (path / "defs.yaml").write_text(json.dumps(spec))
        with (
            pytest.raises(Exception) as raised,
            sandbox.load_component_and_build_defs(defs_path=path),
        ):
            pass
    assert message in error_chain(raised.value)


def scaffolded_project(tmp_path, compute: str, profiles: str):
    """A project folder as `dg scaffold defs` sees it: pyproject.toml, clusters.yml, tests/."""
    from brickpipes.components import ScaffoldedProject

    (tmp_path / "src" / "sales").mkdir(parents=True)
    (tmp_path / "pyproject.toml").write_text(
        f'[tool.dg.project]\nroot_module = "sales"\n\n[tool.brickpipes]\ncompute = "{compute}"\n'
    )
    (tmp_path / "src" / "sales" / "clusters.yml").write_text(profiles)
    (tmp_path / "tests").mkdir()
    request = dg.ScaffoldRequest(
        type_name=TYPE_NAME,
        target_path=tmp_path / "src" / "sales" / "defs" / "orders",
        scaffold_format="yaml",
        project_root=tmp_path,
        params=None,
    )
    return ScaffoldedProject.of(request)


PROFILE = "    spark_version: x\n    node_type_id: y\n    num_workers: 0\n"


def test_the_scaffold_names_a_profile_only_where_job_clusters_use_one(tmp_path) -> None:
    both = f"profiles:\n  batch:\n{PROFILE}  small:\n{PROFILE}"
    assert scaffolded_project(tmp_path / "a", "job-cluster", both).profile == "small"
    first = f"profiles:\n  zeta:\n{PROFILE}  batch:\n{PROFILE}"
    assert scaffolded_project(tmp_path / "b", "job-cluster", first).profile == "zeta"
    assert scaffolded_project(tmp_path / "c", "serverless", both).profile is None
    assert scaffolded_project(tmp_path / "d", "existing-cluster", both).profile is None


def test_the_scaffold_writes_a_test_of_the_new_asset_once(tmp_path) -> None:
    project = scaffolded_project(tmp_path, "job-cluster", f"profiles:\n  small:\n{PROFILE}")
    project.write_test("orders")
    test = tmp_path / "tests" / "test_orders.py"
    text = test.read_text()
    assert "from sales.definitions import defs" in text
    assert "def test_orders(local_workspace) -> None:" in text
    assert 'select_assets(definitions, ["orders"])' in text
    test.write_text("# ours\n")
    project.write_test("orders")
    assert test.read_text() == "# ours\n"  # a test the team has is never overwritten
