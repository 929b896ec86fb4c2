"""The edits a generated README tells a team to make, applied to a render, so the suite can
check that the project's own tests survive them (tests/test_toolchain.py).

- a cluster profile of the team's, whose name sorts before the template's;
- a new Databricks asset scaffolded with the component (README: "A new Databricks asset");
- a new remote script and the asset that runs it (README: "Examples", remote/);
- a new dependency (README: "Commands", `uv add`).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

TEAM_PROFILE = """
  # Ours: a profile whose name sorts before the template's.
  aaa_batch:
    <<: *defaults
    node_type_id: {node_type}
    num_workers: 1
"""
TEAM_SCRIPT = '''"""Our remote script: counts to three on Databricks and reports it."""

from brickpipes_remote import open_pipes


def main() -> None:
    """Report a count."""
    with open_pipes() as context:
        context.report_asset_materialization(metadata={"count": 3})


if __name__ == "__main__":
    main()
'''
TEAM_ASSET = '''"""Our asset: runs remote/team_count.py on Databricks."""

import dagster as dg
from brickpipes import DatabricksPipes


@dg.asset(group_name="team", kinds={{"databricks"}})
def team_count(
    context: dg.AssetExecutionContext, databricks_pipes: DatabricksPipes
) -> dg.MaterializeResult:
    """A count from Databricks."""
    invocation = databricks_pipes.run(context, "team_count.py", profile="{profile}")
    return invocation.get_materialize_result()
'''


def package_dir(project: Path) -> Path:
    return next(project.glob("src/*/defs")).parent


def add_profile(project: Path) -> None:
    profiles = package_dir(project) / "clusters.yml"
    text = profiles.read_text()
    node_type = text.split("node_type_id: ", 1)[1].split()[0]
    profiles.write_text(text + TEAM_PROFILE.format(node_type=node_type))


def add_remote_script_and_asset(project: Path) -> None:
    package = package_dir(project)
    (package / "remote").mkdir(exist_ok=True)
    (package / "remote" / "team_count.py").write_text(TEAM_SCRIPT)
    (package / "defs" / "team_count.py").write_text(TEAM_ASSET.format(profile="aaa_batch"))


def apply_documented_edits(project: Path, env: dict[str, str]) -> None:
    """Make every documented edit with the project's own tools (uv, dg); needs its venv."""
    add_profile(project)
    add_remote_script_and_asset(project)
    for command in (
        ["uv", "add", "--quiet", "pyyaml>=6"],
        [
            "uv",
            "run",
            "--no-sync",
            "dg",
            "scaffold",
            "defs",
            "brickpipes.DatabricksPipesScript",
            "team_scaffolded",
        ],
    ):
        subprocess.run(command, cwd=project, env=env, check=True, capture_output=True, text=True)
