"""Maintained by the template; changes arrive with `copier update`.

Run a remote script on Databricks through Dagster Pipes: submit, observe, report.

Dagster decides when and why; Databricks runs the code. One call to
:meth:`DatabricksPipes.run` uploads the script of this commit, submits a one-task run on the
chosen compute, streams logs and metadata back over Pipes, and fails the step with the run,
task, state and remote error when the run fails.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import dagster as dg
from dagster._core.errors import DagsterPipesExecutionError
from pydantic import Field

from .clusters import ClusterProfile, get_profile
from .workspace import DatabricksWorkspace

if TYPE_CHECKING:
    from dagster._core.pipes.client import PipesClientCompletedInvocation
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.service import jobs

REMOTE_DIR = Path(__file__).parent.parent / "remote"
Compute = Literal["job-cluster", "serverless", "existing-cluster"]
Transport = Literal["volumes", "dbfs"]
SERVERLESS_ENVIRONMENT_KEY = "dagster_pipes"
SHARED_CLUSTER_KEY = "shared"


@dataclass(frozen=True)
class RemoteTask:
    """One task of :meth:`DatabricksPipes.run_together`: ``remote/<script>`` and its arguments."""

    script: str
    parameters: Sequence[str] = field(default_factory=tuple)


class DatabricksRunFailed(DagsterPipesExecutionError):
    """A Databricks run failed; ``results`` holds what its successful tasks reported."""

    def __init__(self, message: str, results: Sequence[Any]):
        super().__init__(message)
        self.results = list(results)


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
    # Defaults: 2 runs/get and 15 Pipes message reads a minute while a run works (upstream's
    # defaults: 12 and 5 to 6); the end is noticed through the Pipes "closed" message, after
    # which runs/get is polled every second (upstream_fixes.py, fixes 5 and 7).
    poll_interval_seconds: float = Field(
        default=30.0, gt=0, description="runs/get interval while the run works."
    )
    message_interval_seconds: float = Field(
        default=4.0, gt=0, description="Interval between Pipes message reads."
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
        """Run the Python file ``remote/<script>``; return what it reported, raise if it fails.

        ``profile`` and ``overrides`` pick and adjust a job-cluster profile of clusters.yml;
        ``extras`` reach the script through ``pipes.get_extra``.
        """

        def spark_python_task(client: WorkspaceClient) -> dict[str, Any]:
            path = upload_script(client, REMOTE_DIR / script, self.code_path)
            return {"spark_python_task": {"python_file": path, "parameters": parameters or []}}

        return self.run_task(
            context,
            Path(script).stem,
            spark_python_task,
            extras=extras,
            profile=profile,
            overrides=overrides,
        )

    def run_notebook(
        self,
        context: dg.AssetExecutionContext | dg.OpExecutionContext,
        notebook: str,
        *,
        extras: dict[str, Any] | None = None,
        base_parameters: dict[str, str] | None = None,
        profile: str = "small",
        overrides: dict[str, Any] | None = None,
    ) -> PipesClientCompletedInvocation:
        """Run the source-format notebook ``remote/<notebook>``, like :meth:`run`."""

        def notebook_task(client: WorkspaceClient) -> dict[str, Any]:
            path = upload_notebook(client, REMOTE_DIR / notebook, self.code_path)
            return {
                "notebook_task": {
                    "notebook_path": path,
                    "base_parameters": base_parameters or {},
                    "source": "WORKSPACE",
                }
            }

        return self.run_task(
            context,
            Path(notebook).stem,
            notebook_task,
            extras=extras,
            profile=profile,
            overrides=overrides,
        )

    def run_task(
        self,
        context: dg.AssetExecutionContext | dg.OpExecutionContext,
        task_key: str,
        payload: Callable[[WorkspaceClient], dict[str, Any]],
        *,
        extras: dict[str, Any] | None = None,
        profile: str = "small",
        overrides: dict[str, Any] | None = None,
    ) -> PipesClientCompletedInvocation:
        """Run one task whose kind ``payload(client)`` returns (e.g. ``{"notebook_task": ...}``).

        The runner adds the compute, the dagster-pipes library, tags, run name, timeout and
        idempotency token, then observes the run through Pipes.
        """
        return self._explaining_errors(
            context, lambda: self._run_task(context, task_key, payload, extras, profile, overrides)
        )

    def run_together(
        self,
        context: dg.AssetExecutionContext | dg.OpExecutionContext,
        tasks: dict[str, RemoteTask],
        *,
        extras: dict[str, Any] | None = None,
        profile: str = "small",
        overrides: dict[str, Any] | None = None,
    ) -> PipesClientCompletedInvocation:
        """Run several remote scripts (``{task_key: RemoteTask}``) as one run, one task each.

        On ``job-cluster`` compute the tasks share one job cluster, so it starts once: the run
        is a one-time job (``runs/submit`` cannot share a job cluster), deleted afterwards; the
        Dagster event log keeps its run id and metadata. Each script reports its own asset; if
        some tasks fail, :class:`DatabricksRunFailed` carries what the others reported.
        """
        return self._explaining_errors(
            context, lambda: self._run_together(context, tasks, extras, profile, overrides)
        )

    def _explaining_errors(
        self,
        context: dg.AssetExecutionContext | dg.OpExecutionContext,
        run: Callable[[], PipesClientCompletedInvocation],
    ) -> PipesClientCompletedInvocation:
        """Run ``run``, logging the SDK's retries; rejected credentials and an unreachable
        workspace fail the step with what to check instead of the SDK's bare error."""
        try:
            with self.workspace.reporting_retries(context.log):
                return run()
        except Exception as error:
            if is_credential_rejection(error):
                raise dg.Failure(
                    description=(
                        f"Databricks rejected the credentials ({self.workspace.describe_auth()}): "
                        f"{str(error).splitlines()[0]}"
                    )
                ) from error
            failure = self.workspace.unreachable(error)
            if failure is None:
                raise
            raise failure from error

    def _run_task(
        self,
        context: dg.AssetExecutionContext | dg.OpExecutionContext,
        task_key: str,
        payload: Callable[[WorkspaceClient], dict[str, Any]],
        extras: dict[str, Any] | None,
        profile: str,
        overrides: dict[str, Any] | None,
    ) -> PipesClientCompletedInvocation:
        from databricks.sdk.service import jobs

        client = self.workspace.get_client()
        cluster = get_profile(profile, overrides)
        task: dict[str, Any] = {"task_key": task_key, **payload(client)}
        submit_args = self._submit_args(context, cluster.timeout_seconds)
        if self.compute == "job-cluster":
            task.update(new_cluster=self._new_cluster(context, cluster), libraries=self._library())
        else:
            self._place(task, submit_args)
        pipes_client = self._pipes_client(client)
        pipes_client.run_timeout_seconds = cluster.timeout_seconds
        return pipes_client.run(
            context=context,
            task=jobs.SubmitTask.from_dict(task),
            extras=extras,
            submit_args=submit_args,
        )

    def _run_together(
        self,
        context: dg.AssetExecutionContext | dg.OpExecutionContext,
        remote_tasks: dict[str, RemoteTask],
        extras: dict[str, Any] | None,
        profile: str,
        overrides: dict[str, Any] | None,
    ) -> PipesClientCompletedInvocation:
        from databricks.sdk.service import jobs

        client = self.workspace.get_client()
        cluster = get_profile(profile, overrides)
        submit_args = self._submit_args(context, cluster.timeout_seconds)
        tasks: list[dict[str, Any]] = [
            {
                "task_key": key,
                "spark_python_task": {
                    "python_file": upload_script(client, REMOTE_DIR / task.script, self.code_path),
                    "parameters": list(task.parameters),
                },
            }
            for key, task in remote_tasks.items()
        ]
        pipes_client = self._pipes_client(client, writers=len(tasks))
        pipes_client.run_timeout_seconds = cluster.timeout_seconds
        if self.compute != "job-cluster":
            for task in tasks:
                self._place(task, submit_args)
            return pipes_client.run_tasks(
                context=context, tasks=tasks, extras=extras, submit_args=submit_args
            )
        for task in tasks:
            task.update(job_cluster_key=SHARED_CLUSTER_KEY, libraries=self._library())
        created: list[int] = []

        def launch(enriched: list[dict[str, Any]]) -> int:
            job = client.jobs.create(
                name=submit_args["run_name"],
                job_clusters=[
                    jobs.JobCluster.from_dict(
                        {
                            "job_cluster_key": SHARED_CLUSTER_KEY,
                            "new_cluster": self._new_cluster(context, cluster),
                        }
                    )
                ],
                tasks=[jobs.Task.from_dict(task) for task in enriched],
                timeout_seconds=cluster.timeout_seconds,
                tags=self._tags(context),
            )
            assert job.job_id is not None
            created.append(job.job_id)
            started = client.jobs.run_now(
                job.job_id, idempotency_token=submit_args["idempotency_token"]
            )
            return started.bind()["run_id"]

        try:
            return pipes_client.run_tasks(
                context=context, tasks=tasks, extras=extras, launch=launch
            )
        finally:
            for job_id in created:
                client.jobs.delete(job_id)

    def _submit_args(
        self, context: dg.AssetExecutionContext | dg.OpExecutionContext, timeout_seconds: int
    ) -> dict[str, Any]:
        return {
            "run_name": run_name(context, self.code_location),
            "timeout_seconds": timeout_seconds,
            "idempotency_token": idempotency_token(context),
        }

    def _library(self) -> list[dict[str, Any]]:
        return [{"pypi": {"package": self.dagster_pipes_requirement}}]

    def _new_cluster(
        self, context: dg.AssetExecutionContext | dg.OpExecutionContext, cluster: ClusterProfile
    ) -> dict[str, Any]:
        new_cluster = cluster.new_cluster()
        new_cluster["custom_tags"] = {**new_cluster["custom_tags"], **self._tags(context)}
        return new_cluster

    def _place(self, task: dict[str, Any], submit_args: dict[str, Any]) -> None:
        """Put a task on an existing cluster or on serverless compute (not job clusters)."""
        from databricks.sdk.service import jobs

        if self.compute == "existing-cluster":
            task.update(existing_cluster_id=self.cluster_id, libraries=self._library())
        elif "notebook_task" not in task:
            # Serverless Python tasks declare their environment; notebooks `%pip install`.
            task["environment_key"] = SERVERLESS_ENVIRONMENT_KEY
            submit_args["environments"] = [
                jobs.JobEnvironment(
                    environment_key=SERVERLESS_ENVIRONMENT_KEY,
                    spec=_environment(self.dagster_pipes_requirement),
                )
            ]

    def _tags(self, context: dg.AssetExecutionContext | dg.OpExecutionContext) -> dict[str, str]:
        # Task tags are dropped upstream (SubmitTask has no `tags`), so cost attribution
        # travels as cluster tags, which Databricks copies to the cloud resources.
        return {
            "dagster_code_location": self.code_location,
            "dagster_step": _step_label(context)[:256],
            "dagster_run_id": context.run.run_id,
        }

    def _pipes_client(self, client: WorkspaceClient, writers: int = 1) -> Any:
        """The fixed Pipes client for this compute and transport; one message reader per task."""
        from dagster._core.pipes.utils import PipesCompositeMessageReader
        from dagster_databricks.pipes import (
            PipesDbfsContextInjector,
            PipesUnityCatalogVolumesContextInjector,
        )

        from .upstream_fixes import (
            FixedDbfsMessageReader,
            FixedPipesDatabricksClient,
            FixedPipesDatabricksServerlessClient,
            FixedUnityCatalogVolumesMessageReader,
        )

        interval = self.message_interval_seconds
        volumes = self.compute == "serverless" or self.transport == "volumes"

        def new_reader() -> Any:
            if volumes:
                return FixedUnityCatalogVolumesMessageReader(
                    client=client,
                    volume_path=self.volume_path,
                    interval=interval,
                    include_stdio_in_messages=self.forward_stdio,
                )
            return FixedDbfsMessageReader(
                client=client, interval=interval, include_stdio_in_messages=self.forward_stdio
            )

        if volumes:
            injector = PipesUnityCatalogVolumesContextInjector(
                client=client, volume_path=self.volume_path
            )
        else:
            injector = PipesDbfsContextInjector(client=client)
        # Several tasks write at once: each gets its own message destination.
        readers = [new_reader() for _ in range(writers)]
        reader = readers[0] if writers == 1 else PipesCompositeMessageReader(readers)
        if self.compute == "serverless":
            pipes_client = FixedPipesDatabricksServerlessClient(
                client=client,
                volume_path=self.volume_path,
                context_injector=injector,
                message_reader=reader,
                poll_interval_seconds=self.poll_interval_seconds,
            )
        else:
            pipes_client = FixedPipesDatabricksClient(
                client=client,
                context_injector=injector,
                message_reader=reader,
                poll_interval_seconds=self.poll_interval_seconds,
            )
        pipes_client.auth_description = self.workspace.describe_auth()
        return pipes_client


def is_oauth_rejection(error: ValueError) -> bool:
    """True for the SDK's ValueError when the token endpoint refuses the client (RFC 6749 5.2)."""
    return str(error).startswith(("invalid_client", "unauthorized_client", "invalid_grant"))


def is_credential_rejection(error: BaseException) -> bool:
    """True when Databricks refused the credentials: 401, 403, or the OAuth token endpoint."""
    from databricks.sdk.errors import PermissionDenied, Unauthenticated

    if isinstance(error, ValueError):
        return is_oauth_rejection(error)
    return isinstance(error, (Unauthenticated, PermissionDenied))


def get_run_watched(
    client: WorkspaceClient, run_id: int, auth: str, run_page_url: str | None
) -> jobs.Run:
    """``runs/get`` of a run this step started; rejected credentials raise
    :class:`CredentialsRejectedMidRun` (``run_page_url``: the last one seen, if any)."""
    try:
        return client.jobs.get_run(run_id)
    except Exception as error:
        if not is_credential_rejection(error):
            raise
        raise CredentialsRejectedMidRun(
            auth, client.config.host or "?", run_id, run_page_url, error
        ) from error


class CredentialsRejectedMidRun(dg.Failure):
    """Databricks rejected the credentials while Dagster watched a run it had started.

    Nobody watches the run any more and these credentials cannot cancel it, so the failure
    names the run and its page for someone who can.
    """

    def __init__(
        self, auth: str, host: str, run_id: int, run_page_url: str | None, error: BaseException
    ):
        page = run_page_url or f"not known yet: find run {run_id} under Job Runs at {host}"
        super().__init__(
            description=(
                f"Databricks rejected the credentials ({auth}) while Dagster was watching run "
                f"{run_id}: {str(error).splitlines()[0]}\n"
                f"Run page: {page}\n"
                f"The run may still be working (and costing money). Someone with valid "
                f"credentials must cancel run {run_id} there if it should not finish; then "
                "renew these credentials and run this step again."
            )
        )


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
    """Upload ``script`` (or any file) under a content hash; return its ``/Workspace`` path.

    The path changes with the content, so the run executes exactly this commit's code, and an
    unchanged file is not uploaded again.
    """
    from databricks.sdk.service.workspace import ImportFormat

    target = _upload_by_hash(client, script, code_path, script.name, ImportFormat.AUTO)
    return target if target.startswith("/Workspace/") else f"/Workspace{target}"


def upload_notebook(client: WorkspaceClient, notebook: Path, code_path: str) -> str:
    """Import a source-format ``notebook`` under a content hash; return its notebook path.

    Notebook paths have no extension, as in the workspace UI and ``notebook_task``.
    """
    from databricks.sdk.service.workspace import ImportFormat, Language

    return _upload_by_hash(
        client, notebook, code_path, notebook.stem, ImportFormat.SOURCE, Language.PYTHON
    )


def _upload_by_hash(
    client: WorkspaceClient,
    source: Path,
    code_path: str,
    name: str,
    import_format: Any,
    language: Any = None,
) -> str:
    from databricks.sdk.errors import NotFound

    content = source.read_bytes()
    folder = f"{code_path.rstrip('/')}/{hashlib.sha256(content).hexdigest()[:16]}"
    target = f"{folder}/{name}"
    try:
        client.workspace.get_status(target)
    except NotFound:
        client.workspace.mkdirs(folder)
        client.workspace.upload(
            target, content, format=import_format, language=language, overwrite=True
        )
    return target
