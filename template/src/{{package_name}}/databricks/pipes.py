"""Run a remote script on Databricks through Dagster Pipes: submit, observe, report.

Dagster decides when and why; Databricks runs the code. One call to
:meth:`DatabricksPipes.run` uploads the script of this commit, submits a one-task run on the
chosen compute, streams logs and metadata back over Pipes, and fails the step with the run,
task, state and remote error when the run fails.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import dagster as dg
from pydantic import Field

from .clusters import get_profile
from .workspace import DatabricksWorkspace

if TYPE_CHECKING:
    from dagster._core.pipes.client import PipesClientCompletedInvocation
    from databricks.sdk import WorkspaceClient

REMOTE_DIR = Path(__file__).parent.parent / "remote"
Compute = Literal["job-cluster", "serverless", "existing-cluster"]
Transport = Literal["volumes", "dbfs"]
SERVERLESS_ENVIRONMENT_KEY = "dagster_pipes"


class DatabricksPipes(dg.ConfigurableResource):
    """Submits remote scripts (``src/<package>/remote/``) as Databricks runs observed by Pipes."""

    workspace: DatabricksWorkspace
    code_location: str = Field(description="Name used in run names and cluster tags.")
    compute: Compute = Field(description="job-cluster, serverless or existing-cluster.")
    transport: Transport = Field(description="Where Pipes context and messages travel.")
    volume_path: str = Field(default="", description="Unity Catalog volume for Pipes files.")
    code_path: str = Field(description="Workspace folder the scripts are uploaded to.")
    cluster_id: str = Field(default="", description="All-purpose cluster (existing-cluster).")
    dagster_pipes_requirement: str = Field(description="The dagster-pipes pin for the remote.")
    # Defaults: about 3 runs/get and 11 message reads a minute while a run works (upstream's
    # defaults: 12 and 6); the run's end is noticed within a second through Pipes instead.
    poll_interval_seconds: float = Field(
        default=20.0, gt=0, description="runs/get interval while the run works."
    )
    message_interval_seconds: float = Field(
        default=4.0, gt=0, description="Pipes message reads interval (whole seconds count)."
    )
    forward_stdio: bool = Field(
        default=True,
        description="Stream the remote stdout/stderr into Dagster's logs (adds seconds at exit).",
    )

    def run(
        self,
        context: dg.AssetExecutionContext | dg.OpExecutionContext,
        script: str,
        *,
        extras: dict[str, Any] | None = None,
        parameters: list[str] | None = None,
        profile: str = "small",
        overrides: dict[str, Any] | None = None,
    ) -> PipesClientCompletedInvocation:
        """Run ``remote/<script>`` and return what it reported; raise if the run fails.

        ``profile`` and ``overrides`` pick and adjust a job-cluster profile of clusters.yml;
        ``extras`` reach the script through ``pipes.get_extra``.
        """
        from databricks.sdk.errors import PermissionDenied, Unauthenticated

        try:
            return self._run(context, script, extras, parameters, profile, overrides)
        except (Unauthenticated, PermissionDenied, ValueError) as error:
            if isinstance(error, ValueError) and not is_oauth_rejection(error):
                raise
            raise dg.Failure(
                description=(
                    f"Databricks rejected the credentials ({self.workspace.describe_auth()}): "
                    f"{str(error).splitlines()[0]}"
                )
            ) from error

    def _run(
        self,
        context: dg.AssetExecutionContext | dg.OpExecutionContext,
        script: str,
        extras: dict[str, Any] | None,
        parameters: list[str] | None,
        profile: str,
        overrides: dict[str, Any] | None,
    ) -> PipesClientCompletedInvocation:
        from databricks.sdk.service import jobs

        client = self.workspace.get_client()
        python_file = upload_script(client, REMOTE_DIR / script, self.code_path)
        cluster = get_profile(profile, overrides)
        task: dict[str, Any] = {
            "task_key": Path(script).stem,
            "spark_python_task": {"python_file": python_file, "parameters": parameters or []},
        }
        submit_args: dict[str, Any] = {
            "run_name": run_name(context, self.code_location),
            "timeout_seconds": cluster.timeout_seconds,
            "idempotency_token": idempotency_token(context),
        }
        library = [{"pypi": {"package": self.dagster_pipes_requirement}}]
        if self.compute == "job-cluster":
            new_cluster = cluster.new_cluster()
            new_cluster["custom_tags"] = {**new_cluster["custom_tags"], **self._tags(context)}
            task.update(new_cluster=new_cluster, libraries=library)
        elif self.compute == "existing-cluster":
            task.update(existing_cluster_id=self.cluster_id, libraries=library)
        else:
            task["environment_key"] = SERVERLESS_ENVIRONMENT_KEY
            submit_args["environments"] = [
                jobs.JobEnvironment(
                    environment_key=SERVERLESS_ENVIRONMENT_KEY,
                    spec=_environment(self.dagster_pipes_requirement),
                )
            ]
        pipes_client = self._pipes_client(client)
        pipes_client.run_timeout_seconds = cluster.timeout_seconds
        return pipes_client.run(
            context=context,
            task=jobs.SubmitTask.from_dict(task),
            extras=extras,
            submit_args=submit_args,
        )

    def _tags(self, context: dg.AssetExecutionContext | dg.OpExecutionContext) -> dict[str, str]:
        # Task tags are dropped upstream (SubmitTask has no `tags`), so cost attribution
        # travels as cluster tags, which Databricks copies to the cloud resources.
        return {
            "dagster_code_location": self.code_location,
            "dagster_step": _step_label(context)[:256],
            "dagster_run_id": context.run.run_id,
        }

    def _pipes_client(self, client: WorkspaceClient) -> Any:
        from dagster_databricks.pipes import (
            PipesDbfsContextInjector,
            PipesDbfsMessageReader,
            PipesUnityCatalogVolumesContextInjector,
            PipesUnityCatalogVolumesMessageReader,
        )

        from .upstream_fixes import (
            FixedPipesDatabricksClient,
            FixedPipesDatabricksServerlessClient,
        )

        interval = self.message_interval_seconds
        if self.compute == "serverless" or self.transport == "volumes":
            injector = PipesUnityCatalogVolumesContextInjector(
                client=client, volume_path=self.volume_path
            )
            reader = PipesUnityCatalogVolumesMessageReader(
                client=client,
                volume_path=self.volume_path,
                interval=interval,
                include_stdio_in_messages=self.forward_stdio,
            )
        else:
            injector = PipesDbfsContextInjector(client=client)
            reader = PipesDbfsMessageReader(
                client=client, interval=interval, include_stdio_in_messages=self.forward_stdio
            )
        if self.compute == "serverless":
            return FixedPipesDatabricksServerlessClient(
                client=client,
                volume_path=self.volume_path,
                context_injector=injector,
                message_reader=reader,
                poll_interval_seconds=self.poll_interval_seconds,
            )
        return FixedPipesDatabricksClient(
            client=client,
            context_injector=injector,
            message_reader=reader,
            poll_interval_seconds=self.poll_interval_seconds,
        )


def is_oauth_rejection(error: ValueError) -> bool:
    """True for the SDK's ValueError when the token endpoint refuses the client (RFC 6749 5.2)."""
    return str(error).startswith(("invalid_client", "unauthorized_client", "invalid_grant"))


def _environment(requirement: str) -> Any:
    from databricks.sdk.service import compute

    return compute.Environment(client="2", dependencies=[requirement])


def _step_label(context: dg.AssetExecutionContext | dg.OpExecutionContext) -> str:
    if context.has_assets_def:
        return ",".join(key.to_user_string() for key in context.selected_asset_keys)
    return (
        context.op_execution_context.op.name
        if isinstance(context, dg.AssetExecutionContext)
        else context.op.name
    )


def run_name(context: dg.AssetExecutionContext | dg.OpExecutionContext, code_location: str) -> str:
    """Name the Databricks run after the code location, the asset(s) and the Dagster run."""
    return f"{code_location}: {_step_label(context)} (dagster run {context.run.run_id[:8]})"[:4096]


def idempotency_token(context: dg.AssetExecutionContext | dg.OpExecutionContext) -> str:
    """One token per run, step and attempt: a resubmitted attempt reuses the same remote run."""
    op_context = (
        context.op_execution_context if isinstance(context, dg.AssetExecutionContext) else context
    )
    step = op_context.get_step_execution_context().step.key
    key = f"{context.run.run_id}:{step}:{op_context.retry_number}"
    return hashlib.sha256(key.encode()).hexdigest()


def upload_script(client: WorkspaceClient, script: Path, code_path: str) -> str:
    """Upload ``script`` under a content hash and return its ``/Workspace`` path.

    The path changes with the content, so the run executes exactly this commit's code, and an
    unchanged script is not uploaded again.
    """
    from databricks.sdk.errors import NotFound
    from databricks.sdk.service.workspace import ImportFormat

    content = script.read_bytes()
    digest = hashlib.sha256(content).hexdigest()[:16]
    folder = f"{code_path.rstrip('/')}/{digest}"
    target = f"{folder}/{script.name}"
    try:
        client.workspace.get_status(target)
    except NotFound:
        client.workspace.mkdirs(folder)
        client.workspace.upload(target, content, format=ImportFormat.AUTO, overwrite=True)
    return f"/Workspace{target}" if not target.startswith("/Workspace/") else target
