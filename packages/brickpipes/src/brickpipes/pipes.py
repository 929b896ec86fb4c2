"""Run remote code on Databricks through Dagster Pipes: :class:`DatabricksPipes`, the resource
assets call.

Dagster decides when and why; Databricks runs the code. One call to
:meth:`DatabricksPipes.run` uploads the script of this commit (with the Pipes helper it
imports, ``brickpipes_remote``), builds a one-task run on the chosen compute, and hands it to
:class:`.runner.PipesRun`, which observes it over Pipes (:mod:`.transport`) and fails the step
with the run, task, state and remote error when it fails.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import dagster as dg
from pydantic import Field, field_validator

from .clusters import ClusterProfile, get_profile
from .environments import DatabricksEnvironment, Environment
from .errors import DatabricksRunFailed
from .libraries import check_libraries, cluster_libraries
from .naming import Context, cost_tags, idempotency_token, run_name
from .runner import OneTimeJob, PipesRun, Submit
from .uploads import upload_notebook, upload_script
from .workspace import DatabricksWorkspace

if TYPE_CHECKING:
    from dagster._core.pipes.client import PipesClientCompletedInvocation
    from databricks.sdk import WorkspaceClient

__all__ = ["DatabricksPipes", "DatabricksRunFailed", "RemoteTask"]

Compute = Literal["job-cluster", "serverless", "existing-cluster"]
Transport = Literal["volumes", "dbfs"]
SERVERLESS_ENVIRONMENT_KEY = "dagster_pipes"
SHARED_CLUSTER_KEY = "shared"
TaskPayload = Callable[["WorkspaceClient"], dict[str, Any]]


@dataclass(frozen=True)
class RemoteTask:
    """One task of :meth:`DatabricksPipes.run_together`: ``remote/<script>`` and its arguments."""

    script: str
    parameters: Sequence[str] = field(default_factory=tuple)


class DatabricksPipes(dg.ConfigurableResource):
    """Submits remote code (the project's ``remote/`` folder) as Databricks runs observed by
    Pipes."""

    workspace: DatabricksWorkspace
    environment: DatabricksEnvironment | None = Field(
        default=None,
        description=(
            "Where runs write, per environment (schema, Pipes volume, upload folder); "
            "when set, volume_path and code_path derive from it."
        ),
    )
    remote_dir: str = Field(
        default="", description="Folder of the remote scripts; script names are relative to it."
    )
    cluster_profiles: str = Field(description="The project's clusters.yml (job-cluster profiles).")
    code_location: str = Field(description="Name used in run names and cluster tags.")
    compute: Compute = Field(description="job-cluster, serverless or existing-cluster.")
    transport: Transport = Field(description="Where Pipes context and messages travel.")
    volume_path: str = Field(default="", description="Unity Catalog volume for Pipes files.")
    code_path: str = Field(
        default="", description="Workspace folder the scripts are uploaded to (no environment)."
    )
    cluster_id: str = Field(default="", description="All-purpose cluster (existing-cluster).")
    dagster_pipes_requirement: str = Field(description="The dagster-pipes pin for the remote.")
    libraries: list[str] = Field(
        default=[],
        description=(
            "What every run installs besides dagster-pipes: PyPI requirements ('pandas>=2.2') "
            "or wheels (*.whl under /Volumes/, /Workspace/ or dbfs:/)."
        ),
    )
    # Defaults: 2 runs/get and 15 Pipes message reads a minute while a run works (upstream's
    # defaults: 12 and 5 to 6); the end is noticed through the Pipes "closed" message, after
    # which runs/get is polled every second (runner.ClosingAwareSleep).
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
    late_messages_seconds: float = Field(
        default=10.0,
        ge=0,
        description="How long to read late Pipes messages of a run that ended without closing.",
    )

    @field_validator("libraries")
    @classmethod
    def _check_libraries(cls, value: list[str]) -> list[str]:
        return check_libraries(value)

    def run(
        self,
        context: Context,
        script: str,
        *,
        extras: dict[str, Any] | None = None,
        parameters: list[str] | None = None,
        profile: str = "small",
        overrides: dict[str, Any] | None = None,
        libraries: Sequence[str] | None = None,
    ) -> PipesClientCompletedInvocation:
        """Run the Python file ``remote/<script>``; return what it reported, raise if it fails.

        ``profile`` and ``overrides`` pick and adjust a job-cluster profile of clusters.yml;
        ``extras`` reach the script through ``pipes.get_extra``; ``libraries`` add to the
        resource's for this run.
        """

        def spark_python_task(client: WorkspaceClient) -> dict[str, Any]:
            self._guard(client, {"parameters": parameters or []})
            path = upload_script(client, self.remote_path(script), self.code_folder(client))
            return {"spark_python_task": {"python_file": path, "parameters": parameters or []}}

        options = {"extras": extras, "profile": profile, "overrides": overrides}
        return self.run_task(
            context, Path(script).stem, spark_python_task, libraries=libraries, **options
        )

    def run_notebook(
        self,
        context: Context,
        notebook: str,
        *,
        extras: dict[str, Any] | None = None,
        base_parameters: dict[str, str] | None = None,
        profile: str = "small",
        overrides: dict[str, Any] | None = None,
        libraries: Sequence[str] | None = None,
    ) -> PipesClientCompletedInvocation:
        """Run the source-format notebook ``remote/<notebook>``, like :meth:`run`.

        On serverless compute a notebook task takes no job environment: it installs what it
        needs with ``%pip install``, and declared ``libraries`` raise ``ValueError``.
        """

        def notebook_task(client: WorkspaceClient) -> dict[str, Any]:
            self._guard(client, {"base_parameters": base_parameters or {}})
            folder = self.code_folder(client)
            path = upload_notebook(client, self.remote_path(notebook), folder)
            task = {"notebook_path": path, "base_parameters": base_parameters or {}}
            return {"notebook_task": {**task, "source": "WORKSPACE"}}

        options = {"extras": extras, "profile": profile, "overrides": overrides}
        return self.run_task(
            context, Path(notebook).stem, notebook_task, libraries=libraries, **options
        )

    def run_task(
        self,
        context: Context,
        task_key: str,
        payload: TaskPayload,
        *,
        extras: dict[str, Any] | None = None,
        profile: str = "small",
        overrides: dict[str, Any] | None = None,
        libraries: Sequence[str] | None = None,
    ) -> PipesClientCompletedInvocation:
        """Run one task whose kind ``payload(client)`` returns (e.g. ``{"notebook_task": ...}``).

        The runner adds the compute, the dagster-pipes library and the declared ``libraries``,
        tags, run name, timeout and idempotency token, then observes the run through Pipes.
        """
        libs = self._libraries(libraries)
        with self.workspace.explaining_errors(context.log):
            client = self.workspace.get_client()
            extras = self._prepared(context, client, extras)
            cluster = self.profile(profile, overrides)
            task = {"task_key": task_key, **payload(client)}
            task = self._placed(task, context, cluster, libs)
            submit = Submit(client, self._submit_args(context, cluster, [task], libs))
            pipes_run = self._pipes_run(client, cluster, writers=1)
            return pipes_run.execute(context, [task], submit, extras)

    def run_together(
        self,
        context: Context,
        tasks: dict[str, RemoteTask],
        *,
        extras: dict[str, Any] | None = None,
        profile: str = "small",
        overrides: dict[str, Any] | None = None,
        libraries: Sequence[str] | None = None,
    ) -> PipesClientCompletedInvocation:
        """Run several remote scripts (``{task_key: RemoteTask}``) as one run, one task each.

        On ``job-cluster`` compute the tasks share one job cluster, so it starts once: the run
        is a one-time job (``runs/submit`` cannot share a job cluster), deleted afterwards; the
        Dagster event log keeps its run id and metadata. Each script reports its own asset; if
        some tasks fail, :class:`DatabricksRunFailed` carries what the others reported.
        ``libraries`` (added to the resource's) are installed for every task.
        """
        libs = self._libraries(libraries)
        with self.workspace.explaining_errors(context.log):
            client = self.workspace.get_client()
            extras = self._prepared(context, client, extras)
            for task in tasks.values():
                self._guard(client, {"parameters": list(task.parameters)})
            cluster = self.profile(profile, overrides)
            folder = self.code_folder(client)
            specs = [
                {
                    "task_key": key,
                    "spark_python_task": {
                        "python_file": upload_script(client, self.remote_path(task.script), folder),
                        "parameters": list(task.parameters),
                    },
                }
                for key, task in tasks.items()
            ]
            pipes_run = self._pipes_run(client, cluster, writers=len(specs))
            if self.compute != "job-cluster":
                placed = [self._placed(spec, context, cluster, libs) for spec in specs]
                submit = Submit(client, self._submit_args(context, cluster, placed, libs))
                return pipes_run.execute(context, placed, submit, extras)
            shared = [
                {**spec, "job_cluster_key": SHARED_CLUSTER_KEY, "libraries": self._library(libs)}
                for spec in specs
            ]
            job = OneTimeJob(
                client,
                settings={
                    "name": run_name(context, self.code_location),
                    "job_clusters": [
                        {
                            "job_cluster_key": SHARED_CLUSTER_KEY,
                            "new_cluster": self._new_cluster(context, cluster),
                        }
                    ],
                    "timeout_seconds": cluster.timeout_seconds,
                    "tags": cost_tags(context, self.code_location),
                },
                idempotency_token=idempotency_token(context),
            )
            try:
                return pipes_run.execute(context, shared, job, extras)
            finally:
                job.delete()

    def current_environment(self, client: WorkspaceClient | None = None) -> Environment:
        """The environment this process runs in: where its runs write (schema, volume,
        upload folder); see :class:`.environments.DatabricksEnvironment`."""
        if self.environment is None:
            raise dg.Failure(
                description="DatabricksPipes has no environment: set its `environment` field."
            )
        return self.environment.current(client=client)

    def code_folder(self, client: WorkspaceClient | None = None) -> str:
        """The workspace folder this environment's scripts and data are uploaded to."""
        if self.environment is None:
            return self.code_path
        return self.current_environment(client).code_path

    def volume_folder(self, client: WorkspaceClient | None = None) -> str:
        """The Unity Catalog volume of this environment's Pipes files."""
        if self.environment is None:
            return self.volume_path
        return self.current_environment(client).volume_path

    def _prepared(
        self, context: Context, client: WorkspaceClient, extras: dict[str, Any] | None
    ) -> dict[str, Any] | None:
        """``extras`` checked against production and completed with where the environment
        writes; the environment's schema and volume created on first use."""
        if self.environment is None:
            return extras
        environment = self.current_environment(client)
        self._guard(client, extras or {})
        for created in self.environment.ensure(client, environment):
            context.log.info(f"Created {created} for the {environment.describe()}.")
        return {**environment.extras(), **(extras or {})}

    def _guard(self, client: WorkspaceClient, values: dict[str, Any]) -> None:
        if self.environment is not None:
            self.current_environment(client).guard(values)

    def remote_path(self, name: str) -> Path:
        """The local file of remote script or notebook ``name`` (relative to ``remote_dir``)."""
        return Path(self.remote_dir) / name

    def profile(self, name: str, overrides: dict[str, Any] | None = None) -> ClusterProfile:
        """Cluster profile ``name`` of the project's clusters.yml, with ``overrides``."""
        return get_profile(Path(self.cluster_profiles), name, overrides)

    def _submit_args(
        self,
        context: Context,
        cluster: ClusterProfile,
        tasks: list[dict[str, Any]],
        libraries: Sequence[str] = (),
    ) -> dict[str, Any]:
        args: dict[str, Any] = {
            "run_name": run_name(context, self.code_location),
            "timeout_seconds": cluster.timeout_seconds,
            "idempotency_token": idempotency_token(context),
        }
        if any("environment_key" in task for task in tasks):
            from databricks.sdk.service.compute import Environment
            from databricks.sdk.service.jobs import JobEnvironment

            dependencies = [self.dagster_pipes_requirement, *libraries]
            spec = Environment(client="2", dependencies=dependencies)
            args["environments"] = [
                JobEnvironment(environment_key=SERVERLESS_ENVIRONMENT_KEY, spec=spec)
            ]
        return args

    def _libraries(self, extra: Sequence[str] | None) -> list[str]:
        """The resource's libraries and ``extra`` (checked), without dagster-pipes' pin."""
        libraries = check_libraries([*self.libraries, *(extra or ())])
        return [entry for entry in libraries if entry != self.dagster_pipes_requirement]

    def _library(self, libraries: Sequence[str] = ()) -> list[dict[str, Any]]:
        """Cluster ``libraries``: dagster-pipes, then the declared ones."""
        pipes = {"pypi": {"package": self.dagster_pipes_requirement}}
        return [pipes, *cluster_libraries(libraries)]

    def _new_cluster(self, context: Context, cluster: ClusterProfile) -> dict[str, Any]:
        new_cluster = cluster.new_cluster()
        tags = cost_tags(context, self.code_location)
        new_cluster["custom_tags"] = {**new_cluster["custom_tags"], **tags}
        return new_cluster

    def _placed(
        self,
        task: dict[str, Any],
        context: Context,
        cluster: ClusterProfile,
        libraries: Sequence[str] = (),
    ) -> dict[str, Any]:
        """``task`` on this resource's compute: a new job cluster, an existing cluster, or
        serverless (Python tasks declare their environment; notebooks `%pip install`)."""
        if self.compute == "job-cluster":
            new_cluster = self._new_cluster(context, cluster)
            return {**task, "new_cluster": new_cluster, "libraries": self._library(libraries)}
        if self.compute == "existing-cluster":
            library = self._library(libraries)
            return {**task, "existing_cluster_id": self.cluster_id, "libraries": library}
        if "notebook_task" in task:
            if libraries:
                raise ValueError(
                    f"Notebook task {task['task_key']} cannot install libraries on serverless "
                    f"compute ({', '.join(libraries)}): a serverless notebook task takes no job "
                    "environment. Install them with %pip install in the notebook, or run a "
                    "Python script (DatabricksPipes.run) instead."
                )
            return task
        return {**task, "environment_key": SERVERLESS_ENVIRONMENT_KEY}

    def _pipes_run(
        self, client: WorkspaceClient, cluster: ClusterProfile, writers: int
    ) -> PipesRun:
        """The Pipes run for this transport: one context injector, one message reader per task."""
        from .transport import open_transport

        injector, reader = open_transport(
            client,
            "volumes" if self.compute == "serverless" else self.transport,
            volume_path=self.volume_folder(client),
            writers=writers,
            interval=self.message_interval_seconds,
            include_stdio_in_messages=self.forward_stdio,
            late_messages_seconds=self.late_messages_seconds,
        )
        return PipesRun(
            client=client,
            context_injector=injector,
            message_reader=reader,
            auth=self.workspace.describe_auth(),
            poll_interval_seconds=self.poll_interval_seconds,
            timeout_seconds=cluster.timeout_seconds,
        )
