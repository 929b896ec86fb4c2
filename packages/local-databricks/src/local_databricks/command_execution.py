"""Command Execution API 1.2 on all-purpose clusters: execution contexts and commands.

`contexts/create` starts a persistent Python process for the context (the shim's
command_runner.py) on the cluster's runtime: its own Python environment, the cluster's
`spark_env_vars` and Spark conf, and a credential of its own (runtime authentication, valid until
the context is destroyed or lost). Commands run one at a time per context, in submission order:
Queued -> Running -> Finished (the command's own errors are `error` results of a Finished
command), Cancelling -> Cancelled, or Error when the context was lost (its cluster stopped).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from .auth import AuthStore
from .clusters import ClusterService
from .errors import ApiError, invalid
from .executor import task_env
from .paths import Storage
from .routing import Request, Router, check_str
from .runtime_env import task_runtime
from .secrets_api import SecretService
from .util import random_token

LANGUAGES = ("python", "scala", "sql", "r")
TERMINAL = ("Finished", "Cancelled", "Error")
LOST_CONTEXT = {
    "resultType": "error",
    "summary": "The execution context was lost: its cluster is no longer running.",
    "cause": "ContextLostException: the Python process of the execution context ended.",
}


@dataclass
class Command:
    """One submitted command and its outcome."""

    command_id: str
    source: str
    status: str = "Queued"
    results: dict | None = None


@dataclass
class Context:
    """An execution context: its process, commands and credential."""

    context_id: str
    cluster_id: str
    token: str
    process: subprocess.Popen | None = None
    status: str = "Pending"
    commands: dict[str, Command] = field(default_factory=dict)
    queue: list[str] = field(default_factory=list)
    running: str | None = None


class CommandExecutionService:
    """Execution contexts of all-purpose clusters (model and HTTP handlers)."""

    def __init__(
        self,
        clusters: ClusterService,
        auth: AuthStore,
        storage: Storage,
        python: Callable[[], str],
        host: str,
        secrets_store: SecretService,
    ) -> None:
        self.clusters = clusters
        self.auth = auth
        self.storage = storage
        self.python = python
        self.host = host
        self.secrets = secrets_store
        self._lock = threading.RLock()
        self._contexts: dict[str, Context] = {}

    def register(self, router: Router) -> None:
        """Add the /api/1.2 contexts and commands routes."""
        base = r"/api/1\.2/"
        router.add("POST", base + "contexts/create", self.create_context)
        router.add("GET", base + "contexts/status", self.context_status)
        router.add("POST", base + "contexts/destroy", self.destroy_context)
        router.add("POST", base + "commands/execute", self.execute)
        router.add("GET", base + "commands/status", self.command_status)
        router.add("POST", base + "commands/cancel", self.cancel)

    def reset(self) -> None:
        """Stop every context's process and forget them (server stop and reset)."""
        with self._lock:
            contexts = list(self._contexts.values())
            self._contexts.clear()
        for context in contexts:
            self._stop(context)

    # ---- model ---------------------------------------------------------------------------------

    def _running_cluster(self, cluster_id: str) -> dict:
        details = self.clusters.get_details(cluster_id)
        if details is None:
            raise invalid(f"Cluster {cluster_id} does not exist")
        if details.get("cluster_source") == "JOB":
            raise invalid(
                f"Cluster {cluster_id} is a job cluster: execution contexts need an all-purpose "
                "cluster."
            )
        if details["state"] != "RUNNING":
            raise ApiError(
                400,
                "INVALID_STATE",
                f"Cluster {cluster_id} is in unexpected state {details['state'].capitalize()}.",
            )
        return details

    def _start(self, context: Context, details: dict) -> None:
        env_vars, problem = self.secrets.resolve_env(details.get("spark_env_vars") or {})
        if problem is not None:
            raise invalid(problem)
        workdir = self.storage.root / "contexts" / context.context_id
        (workdir / "driver").mkdir(parents=True, exist_ok=True)
        runtime = task_runtime(self.python(), workdir, details.get("spark_version"))
        conf = {str(k): str(v) for k, v in (details.get("spark_conf") or {}).items()}
        conf["spark.databricks.clusterUsageTags.clusterId"] = context.cluster_id
        conf["spark.databricks.clusterUsageTags.clusterName"] = details.get("cluster_name", "")
        env = task_env(
            self.storage,
            env_vars,
            conf,
            self.storage.spark / f"context-{context.context_id}",
            {
                **runtime.env,
                "LOCAL_DATABRICKS_API_URL": self.host,
                "LOCAL_DATABRICKS_API_TOKEN": context.token,
            },
        )
        runner = str(self.storage.shim / "command_runner.py")
        context.process = subprocess.Popen(
            [runtime.python, runner, str(workdir / "driver" / "log")],
            cwd=workdir / "driver",
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            text=True,
            encoding="utf-8",
        )
        threading.Thread(
            target=self._read, args=(context,), name=f"ld-context-{context.context_id}", daemon=True
        ).start()

    def _read(self, context: Context) -> None:
        """Apply the runner's answers; when it ends, the context is lost."""
        process = context.process
        assert process is not None and process.stdout is not None
        for line in process.stdout:
            try:
                answer = json.loads(line)
            except ValueError:
                continue
            with self._lock:
                self._apply(context, answer)
        process.wait()
        with self._lock:
            self._lose(context)

    def _apply(self, context: Context, answer: dict) -> None:
        event = answer.get("event")
        if event == "ready":
            if context.status == "Pending":
                context.status = "Running"
            return
        command = context.commands.get(str(answer.get("id")))
        if command is None:
            return
        if event == "started" and command.status == "Queued":
            command.status = "Running"
        elif event == "done":
            command.results = answer.get("results")
            command.status = "Cancelled" if answer.get("cancelled") else "Finished"
            context.running = None
            self._next(context)

    def _next(self, context: Context) -> None:
        """Send the next queued command to an idle context's process."""
        if context.running is not None or context.status != "Running":
            return
        while context.queue:
            command = context.commands[context.queue.pop(0)]
            if command.status != "Queued":
                continue
            context.running = command.command_id
            request = {"id": command.command_id, "command": command.source}
            try:
                assert context.process is not None and context.process.stdin is not None
                context.process.stdin.write(json.dumps(request) + "\n")
                context.process.stdin.flush()
            except OSError:
                self._lose(context)
            return

    def _lose(self, context: Context) -> None:
        """The context's process is gone: pending commands end in Error, the credential too."""
        if context.status != "Error":
            context.status = "Error"
        for command in context.commands.values():
            if command.status not in TERMINAL:
                command.status = "Error"
                command.results = dict(LOST_CONTEXT)
        context.queue.clear()
        context.running = None
        self.auth.remove_pat(context.token)

    def _stop(self, context: Context) -> None:
        self.auth.remove_pat(context.token)
        process = context.process
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)

    def _context(self, cluster_id: object, context_id: object) -> Context:
        """A live context of the cluster; one whose cluster stopped is lost first."""
        cluster_id = check_str(cluster_id, "clusterId", required=True)
        context_id = check_str(context_id, "contextId", required=True)
        context = self._contexts.get(context_id)
        if context is None or context.cluster_id != cluster_id:
            raise ApiError(
                404,
                "RESOURCE_DOES_NOT_EXIST",
                f"Execution context {context_id} does not exist on cluster {cluster_id}.",
            )
        if context.status != "Error" and self.clusters.state_of(cluster_id) != "RUNNING":
            self._stop(context)
            self._lose(context)
        return context

    # ---- HTTP ----------------------------------------------------------------------------------

    def create_context(self, req: Request) -> dict:
        """POST contexts/create {clusterId, language} -> {id}; Pending until the process is up."""
        cluster_id = req.str_param("clusterId", required=True)
        _language(req)
        details = self._running_cluster(cluster_id)
        context = Context(secrets.token_hex(10), cluster_id, random_token())
        self.auth.add_pat(context.token)
        with self._lock:
            self._contexts[context.context_id] = context
        try:
            self._start(context, details)
        except Exception:
            with self._lock:
                self._contexts.pop(context.context_id, None)
            self.auth.remove_pat(context.token)
            raise
        return {"id": context.context_id}

    def context_status(self, req: Request) -> dict:
        """GET contexts/status?clusterId=&contextId= -> {id, status}."""
        with self._lock:
            context = self._context(req.query.get("clusterId"), req.query.get("contextId"))
            return {"id": context.context_id, "status": context.status}

    def destroy_context(self, req: Request) -> dict:
        """POST contexts/destroy {clusterId, contextId}: stops the process (an unknown context
        is fine, so the call can be retried)."""
        cluster_id = req.str_param("clusterId", required=True)
        context_id = req.str_param("contextId", required=True)
        with self._lock:
            context = self._contexts.get(context_id)
            if context is None or context.cluster_id != cluster_id:
                return {}
            del self._contexts[context_id]
        self._stop(context)
        return {}

    def execute(self, req: Request) -> dict:
        """POST commands/execute {clusterId, contextId, language, command} -> {id}."""
        cluster_id = req.str_param("clusterId", required=True)
        context_id = req.str_param("contextId", required=True)
        _language(req)
        source = req.str_param("command", required=True)
        with self._lock:
            context = self._context(cluster_id, context_id)
            if context.status == "Error":
                raise ApiError(
                    400,
                    "INVALID_STATE",
                    f"Execution context {context_id} is in state Error: create a new context.",
                )
            command = Command(secrets.token_hex(16), source)
            context.commands[command.command_id] = command
            context.queue.append(command.command_id)
            self._next(context)
        return {"id": command.command_id}

    def _command(self, context: Context, command_id: object) -> Command:
        command_id = check_str(command_id, "commandId", required=True)
        command = context.commands.get(command_id)
        if command is None:
            raise ApiError(
                404,
                "RESOURCE_DOES_NOT_EXIST",
                f"Command {command_id} does not exist in execution context {context.context_id}.",
            )
        return command

    def command_status(self, req: Request) -> dict:
        """GET commands/status -> {id, status, results (once terminal)}."""
        with self._lock:
            context = self._context(req.query.get("clusterId"), req.query.get("contextId"))
            command = self._command(context, req.query.get("commandId"))
            body: dict = {"id": command.command_id, "status": command.status}
            if command.results is not None and command.status in TERMINAL:
                body["results"] = dict(command.results)
            return body

    def cancel(self, req: Request) -> dict:
        """POST commands/cancel: a queued command ends Cancelled now, a running one is
        interrupted (Cancelling, then Cancelled)."""
        with self._lock:
            context = self._context(req.body_param("clusterId"), req.body_param("contextId"))
            command = self._command(context, req.body_param("commandId"))
            if command.status == "Queued":
                command.status = "Cancelled"
                command.results = {
                    "resultType": "error",
                    "summary": "Command cancelled",
                    "cause": "CommandCancelledException: the command was cancelled.",
                }
            elif command.status == "Running" and context.process is not None:
                command.status = "Cancelling"
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(context.process.pid, signal.SIGINT)
        return {}


def _language(req: Request) -> str:
    """The `language` field: one of the service's; only Python runs here."""
    language = check_str(req.body_param("language"), "language", "python") or "python"
    if language not in LANGUAGES:
        raise invalid(
            f"Invalid value for field 'language': {language!r} is not one of "
            f"{', '.join(LANGUAGES)}."
        )
    if language != "python":
        raise invalid(
            f"local-databricks runs Python commands only; language {language} is not emulated."
        )
    return language
