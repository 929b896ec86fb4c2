"""A small project built on brickpipes, as a rendered project declares it in
``defs/resources.py``: the tests run its resources against local Databricks instead of a
rendered project's.

What the old renders varied (auth method, compute, Pipes transport) is a field of
:class:`Project`; :data:`REPRESENTATIVE` covers each auth method, compute and transport once.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import dagster as dg

from brickpipes import DatabricksJobs, DatabricksPipes, DatabricksWorkspace, load_profiles

TESTS_DIR = Path(__file__).parent
# The test project's remote scripts and job-cluster profiles.
REMOTE_DIR = TESTS_DIR / "remote"
CLUSTER_PROFILES = TESTS_DIR / "clusters.yml"
CODE_LOCATION = "brickpipes_tests"
CODE_PATH = f"/Shared/dagster/{CODE_LOCATION}/code"
PIPES_VOLUME = "/Volumes/main/brickpipes_tests/dagster_pipes"
PIPES_REQUIREMENT = f"dagster-pipes=={version('dagster-pipes')}"


@dataclass(frozen=True)
class Project:
    """The answers a project was rendered with: how it authenticates, computes, and where its
    Pipes context and messages travel."""

    auth_method: str = "pat"
    compute: str = "job-cluster"
    transport: str = "volumes"
    remote_dir: Path = REMOTE_DIR

    def __str__(self) -> str:
        return f"{self.auth_method}-{self.compute}-{self.transport}"

    def defs(self) -> dg.Definitions:
        """The project's resources, declared as ``defs/resources.py`` declares them."""
        load_profiles(CLUSTER_PROFILES)  # a mistake in clusters.yml fails `dg check defs`
        workspace = DatabricksWorkspace.from_env(self.auth_method)  # type: ignore[arg-type]
        options: dict[str, Any] = {}
        if self.transport == "volumes" or self.compute == "serverless":
            options["volume_path"] = PIPES_VOLUME
        if self.compute == "existing-cluster":
            options["cluster_id"] = dg.EnvVar("DATABRICKS_CLUSTER_ID")
        databricks_pipes = DatabricksPipes(
            workspace=workspace,
            code_location=CODE_LOCATION,
            compute=self.compute,  # type: ignore[arg-type]
            transport="volumes" if self.compute == "serverless" else self.transport,  # type: ignore[arg-type]
            code_path=CODE_PATH,
            dagster_pipes_requirement=PIPES_REQUIREMENT,
            remote_dir=str(self.remote_dir),
            cluster_profiles=str(CLUSTER_PROFILES),
            **options,
        )
        return dg.Definitions(
            resources={
                "databricks_workspace": workspace,
                "databricks_pipes": databricks_pipes,
                "databricks_jobs": DatabricksJobs(workspace=workspace),
            }
        )

    def resources(self, **overrides: Any) -> dict[str, Any]:
        """The project's resources at local speed (``overrides``: other settings)."""
        from brickpipes.testing import fast_resources

        return fast_resources(self.defs(), **overrides)


# Each auth method, compute and transport once (not their product: the suite stays fast).
REPRESENTATIVE = [
    Project("pat", "job-cluster", "dbfs"),
    Project("oauth-m2m", "serverless", "volumes"),
    Project("azure-client-secret", "existing-cluster", "volumes"),
    Project("profile", "job-cluster", "volumes"),
]
AUTH_METHODS = [project.auth_method for project in REPRESENTATIVE]
