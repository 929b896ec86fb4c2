"""``DatabricksPipesScript``, a ``dg`` component: one asset whose work is a Python script that
runs on Databricks and reports back through Dagster Pipes. A new one is scaffolded with::

    uv run dg scaffold defs brickpipes.DatabricksPipesScript my_asset

which writes ``defs/my_asset/defs.yaml`` (the asset and the runner options, as data) and
``defs/my_asset/my_asset.py`` (the remote script, uploaded by content hash when the asset
runs). Mistakes fail ``dg check defs``: a missing script, an unknown cluster profile or an
unknown field, each named with the ``defs.yaml`` it is in. The profiles are the project's
``clusters.yml``, next to its root package's ``__init__.py``.
"""

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from string import Template
from typing import Any

import dagster as dg
from dagster.components.component_scaffolding import scaffold_component
from pydantic import Field, field_validator

from .clusters import get_profile, load_profiles
from .libraries import check_libraries
from .pipes import DatabricksPipes

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: tomli, which pytest and dagster's dg already depend on there
    import tomli as tomllib

# The remote side of a scaffolded asset: a real module of this package (linted, type-checked
# and tested like the examples' scripts), copied with the asset's name put in for ``$name``.
SCRIPT_STUB = Path(__file__).with_name("script_stub.py")
PROFILES_FILE_NAME = "clusters.yml"


def profiles_file(context: dg.ComponentLoadContext) -> Path:
    """The project's ``clusters.yml``: next to its root package (``<root>.defs`` is loaded)."""
    root = context.defs_module_name.split(".")[0]
    spec = importlib.util.find_spec(root)
    if spec is None or spec.origin is None:
        raise ValueError(f"Cannot find the project's package '{root}' to read its clusters.yml")
    return Path(spec.origin).with_name(PROFILES_FILE_NAME)


class DatabricksPipesScriptScaffolder(dg.Scaffolder):
    """``dg scaffold defs``: a ``defs.yaml``, a remote script stub named after the folder, and
    a test that materializes the new asset through local Databricks (``tests/test_<name>.py``,
    unless the project has no ``tests/`` or the file exists)."""

    def scaffold(self, request: dg.ScaffoldRequest) -> None:
        """Write the files."""
        name = request.target_path.name
        project = ScaffoldedProject.of(request)
        attributes: dict[str, Any] = {
            "script": f"{name}.py",
            "asset": {"key": name, "kinds": ["databricks", "python"]},
        }
        if project.profile:
            attributes["profile"] = project.profile
        attributes["extras"] = {}
        scaffold_component(request, attributes)
        stub = Template(SCRIPT_STUB.read_text(encoding="utf-8")).substitute(name=name)
        (request.target_path / f"{name}.py").write_text(stub, encoding="utf-8")
        project.write_test(name)


class ScaffoldedProject:
    """What a scaffold needs to know of the project: its package, compute and profiles."""

    def __init__(self, root: Path | None, package: str, compute: str, profiles: list[str]):
        self.root, self.package, self.compute, self.profiles = root, package, compute, profiles

    @classmethod
    def of(cls, request: dg.ScaffoldRequest) -> "ScaffoldedProject":
        """Read the project's pyproject.toml ([tool.dg.project], [tool.brickpipes]) and its
        clusters.yml; defaults where a project has neither."""
        root = request.project_root
        table: dict[str, Any] = {}
        if root is not None and (root / "pyproject.toml").is_file():
            table = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
        tool = table.get("tool", {})
        package = str(tool.get("dg", {}).get("project", {}).get("root_module", ""))
        compute = str(tool.get("brickpipes", {}).get("compute", "job-cluster"))
        profiles: list[str] = []
        if root is not None and package:
            path = root / "src" / package / PROFILES_FILE_NAME
            if path.is_file():
                profiles = list(load_profiles(path))
        return cls(root, package, compute, profiles)

    @property
    def profile(self) -> str | None:
        """The profile a new asset names: only job clusters use one (``small`` if the project
        has it, else its first), so serverless and all-purpose projects get none."""
        if self.compute != "job-cluster" or not self.profiles:
            return None
        return "small" if "small" in self.profiles else self.profiles[0]

    def write_test(self, name: str) -> None:
        """``tests/test_<name>.py``, materializing the asset through local Databricks."""
        if self.root is None or not self.package or not (self.root / "tests").is_dir():
            return
        path = self.root / "tests" / f"test_{name}.py"
        if not path.exists():
            text = Template(TEST_STUB).substitute(name=name, package=self.package)
            path.write_text(text, encoding="utf-8")


# The test `dg scaffold defs` writes next to the project's own (ruff- and pyright-clean).
TEST_STUB = '''"""The $name asset, materialized through local Databricks.

Written by `dg scaffold defs` with the asset; extend it as the asset grows.
"""

import dagster as dg
from brickpipes.testing import failure_text, fast_resources, select_assets

from $package.definitions import defs


def test_${name}(local_workspace) -> None:
    """It runs on (local) Databricks and reports its materialization."""
    definitions = defs()
    result = dg.materialize(
        select_assets(definitions, ["$name"]),
        resources=fast_resources(definitions),
        raise_on_error=False,
    )
    assert result.success, failure_text(result)
    keys = [event.asset_key for event in result.get_asset_materialization_events()]
    assert keys == [dg.AssetKey("$name")]
'''


@dg.scaffold_with(DatabricksPipesScriptScaffolder)
class DatabricksPipesScript(dg.Component, dg.Resolvable, dg.Model):
    """An asset computed by a Python script on Databricks, through the project's Pipes runner.

    ``profile`` and ``overrides`` pick and adjust a job-cluster profile of ``clusters.yml``
    (job-cluster compute only); ``extras`` reach the script through ``get_extra``;
    ``parameters`` are its command-line arguments; ``checks`` name the asset checks the
    script reports; ``libraries`` (PyPI requirements or ``*.whl`` paths under ``/Volumes/``,
    ``/Workspace/`` or ``dbfs:/``) are installed for its run, after the resource's own.
    Partitions and dependencies are fields of ``asset``.
    """

    script: str = Field(description="The remote script, relative to this defs.yaml.")
    asset: dg.ResolvedAssetSpec
    checks: list[str] = Field(default_factory=list, description="Checks the script reports.")
    profile: str = Field(default="small", description="A cluster profile of clusters.yml.")
    overrides: dict[str, Any] = Field(default_factory=dict, description="Profile overrides.")
    parameters: list[str] = Field(default_factory=list, description="The script's arguments.")
    extras: dict[str, Any] = Field(default_factory=dict, description="Values for get_extra.")
    libraries: list[str] = Field(
        default_factory=list,
        description=(
            "Installed for this asset's runs besides the resource's libraries: PyPI "
            "requirements ('pandas>=2.2,<3') or wheels (*.whl under /Volumes/, /Workspace/ "
            "or dbfs:/)."
        ),
    )

    @field_validator("libraries")
    @classmethod
    def _check_libraries(cls, value: list[str]) -> list[str]:
        return check_libraries(value)

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        """One multi-asset that runs the script; fails to load if the script or profile is bad."""
        defs_file = context.path / "defs.yaml"
        script = (context.path / self.script).resolve()
        if not script.is_file():
            raise ValueError(f"{defs_file}: script '{self.script}' does not exist ({script})")
        try:
            get_profile(profiles_file(context), self.profile, self.overrides)
        except ValueError as error:
            raise ValueError(f"{defs_file}: {error}") from None
        spec = self.asset
        check_specs = [dg.AssetCheckSpec(name, asset=spec.key) for name in self.checks]

        @dg.multi_asset(
            name=spec.key.to_python_identifier(),
            specs=[spec],
            check_specs=check_specs,
            partitions_def=spec.partitions_def,
        )
        def run_script(
            context: dg.AssetExecutionContext, databricks_pipes: DatabricksPipes
        ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
            invocation = databricks_pipes.run(
                context,
                str(script),
                extras=self.extras,
                parameters=self.parameters,
                profile=self.profile,
                overrides=self.overrides,
                libraries=self.libraries,
            )
            yield from invocation.get_results()

        return dg.Definitions(assets=[run_script])
