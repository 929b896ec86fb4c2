"""Admin operations, shared by the Python API and the HTTP API under /__local-databricks/."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .auth import PAT_USER, AuthStore
from .calls import CallLog
from .clusters import ClusterService
from .errors import invalid
from .faults import BehaviourQueue, FaultSpec, FaultStore
from .jobs import JobService
from .routing import Request, Router, check_dict, check_int, check_str
from .runs import RunConfig
from .scheduling import RunManager
from .secrets_api import SecretService

PREFIX = r"/__local-databricks/"


class Admin:
    """One implementation of every admin action; `register` exposes them over HTTP.

    It is given the stores it acts on; the run engine and the jobs service, which exist only
    while the server runs, come with `serve`. `reset` and `url` are the server's.
    """

    def __init__(
        self,
        faults: FaultStore,
        behaviours: BehaviourQueue,
        run_config: RunConfig,
        auth: AuthStore,
        clusters: ClusterService,
        secrets: SecretService,
        call_log: CallLog,
        reset: Callable[[], None],
        url: Callable[[], str],
    ) -> None:
        self.faults = faults
        self.behaviours = behaviours
        self.run_config = run_config
        self.auth = auth
        self.clusters = clusters
        self.secrets = secrets
        self.call_log = call_log
        self.reset = reset
        self.url = url
        self.jobs: JobService | None = None
        self.manager: RunManager | None = None

    def serve(self, jobs: JobService, manager: RunManager) -> None:
        """The jobs service and run engine of the started server."""
        self.jobs = jobs
        self.manager = manager

    def _running(self) -> tuple[JobService, RunManager]:
        if self.jobs is None or self.manager is None:
            raise RuntimeError("The server is not running: call start() first.")
        return self.jobs, self.manager

    # ---- actions -------------------------------------------------------------------------------

    def inject_fault(self, spec: FaultSpec) -> dict:
        """Add an HTTP fault rule; returns its description (with fault_id)."""
        return self.faults.add(spec).to_json()

    def clear_faults(self) -> None:
        """Remove all fault rules."""
        self.faults.clear()

    def set_run_behaviour(
        self,
        pending_seconds: float | None = None,
        result: str | None = None,
        times: int = 1,
        message: str | None = None,
    ) -> None:
        """Force the behaviour of the next `times` submitted / run-now runs."""
        self.behaviours.add(pending_seconds, result, times, message)

    def set_cluster_start_seconds(self, seconds: float, serverless: float | None = None) -> None:
        """Change the simulated cluster (and optionally serverless) start delay."""
        if float(seconds) < 0:
            raise invalid("seconds must not be negative.")
        self.run_config.cluster_start_seconds = float(seconds)
        if serverless is not None:
            self.run_config.serverless_start_seconds = float(serverless)

    def revoke_tokens(self) -> None:
        """Invalidate every current PAT and OAuth token."""
        self.auth.revoke_tokens()

    def set_serverless_enabled(self, enabled: bool) -> None:
        """Turn serverless compute for jobs on or off."""
        if not isinstance(enabled, bool):
            raise invalid(f"enabled must be true or false, not {enabled!r}.")
        self.run_config.serverless_enabled = enabled

    def register_tokens(
        self,
        pat: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        expires_in: float | None = None,
    ) -> None:
        """Accept an extra PAT and/or OAuth client (with an optional token lifetime)."""
        if pat:
            self.auth.add_pat(pat)
        if client_id:
            if not client_secret:
                raise invalid("client_secret is required with client_id.")
            self.auth.add_client(client_id, client_secret, expires_in)
        if not pat and not client_id:
            raise invalid("Give a pat, or a client_id and client_secret.")

    def add_cluster(self, cluster_id: str | None = None, **fields: Any) -> dict:
        """Seed an all-purpose cluster (RUNNING by default); returns its details."""
        return self.clusters.add(cluster_id, **fields)

    def put_secret(self, scope: str, key: str, value: str) -> None:
        """Store a secret (the scope is created when missing)."""
        self.secrets.put_secret(scope, key, value)

    def create_job(self, settings: dict) -> int:
        """Create a job as the PAT user; returns the job id."""
        return self._running()[0].create_job(settings, PAT_USER)

    def calls(self) -> list[dict]:
        """The call log."""
        return self.call_log.list()

    def clear_calls(self) -> None:
        """Empty the call log."""
        self.call_log.clear()

    def runs(self) -> list[dict]:
        """Every run as runs/get returns it, newest first."""
        manager = self._running()[1]
        return [manager.render(run) for run in manager.all_runs()]

    def get_run(self, run_id: int) -> dict:
        """One run (parent or task run id) as runs/get returns it."""
        manager = self._running()[1]
        found = manager.find(check_int(run_id, "run_id", required=True))
        if found is None:
            raise invalid(f"Run {run_id} does not exist.")
        run, task = found
        if task is not None:
            return manager.render_task_run(run, task)
        return manager.render(run)

    def health(self) -> dict:
        """Readiness probe."""
        return {"status": "ok", "url": self.url()}

    # ---- HTTP ----------------------------------------------------------------------------------

    def register(self, router: Router) -> None:
        """Expose the actions under /__local-databricks/ (admin token, not logged, no faults)."""
        router.add("POST", PREFIX + "faults", self._faults)
        router.add("GET", PREFIX + "faults", lambda req: {"faults": self.faults.list()})
        router.add("POST", PREFIX + "faults/clear", lambda req: self.clear_faults() or {})
        router.add("POST", PREFIX + "run-behaviour", self._run_behaviour)
        router.add("POST", PREFIX + "cluster-start-seconds", self._cluster_start)
        router.add("POST", PREFIX + "revoke-tokens", lambda req: self.revoke_tokens() or {})
        router.add("POST", PREFIX + "serverless", self._serverless)
        router.add("GET", PREFIX + "serverless", self._serverless)
        router.add("POST", PREFIX + "tokens", self._tokens)
        router.add("POST", PREFIX + "clusters", self._clusters)
        router.add("POST", PREFIX + "secrets", self._secrets)
        router.add("POST", PREFIX + "jobs", self._jobs)
        router.add("GET", PREFIX + "calls", lambda req: {"calls": self.calls()})
        router.add("POST", PREFIX + "calls/clear", lambda req: self.clear_calls() or {})
        router.add("GET", PREFIX + "runs", lambda req: {"runs": self.runs()})
        router.add("GET", PREFIX + r"runs/(\d+)", lambda req: self.get_run(int(req.group(1))))
        router.add("POST", PREFIX + "reset", lambda req: self.reset() or {})
        router.add("GET", PREFIX + "health", lambda req: self.health())

    def _faults(self, req: Request) -> dict:
        return self.inject_fault(FaultSpec.from_json(req.json()))

    def _run_behaviour(self, req: Request) -> dict:
        self.set_run_behaviour(
            pending_seconds=req.float_param("pending_seconds"),
            result=req.str_param("result"),
            times=req.int_param("times", 1),
            message=req.str_param("message"),
        )
        return {}

    def _cluster_start(self, req: Request) -> dict:
        seconds = req.float_param("seconds", required=True)
        self.set_cluster_start_seconds(seconds, req.float_param("serverless_seconds"))
        return {}

    def _serverless(self, req: Request) -> dict:
        if req.method == "GET":
            return {"enabled": self.run_config.serverless_enabled}
        if "enabled" not in req.json():
            raise invalid("Missing required field: enabled")
        self.set_serverless_enabled(req.json()["enabled"])
        return {"enabled": self.run_config.serverless_enabled}

    def _tokens(self, req: Request) -> dict:
        self.register_tokens(
            req.str_param("pat"),
            req.str_param("client_id"),
            req.str_param("client_secret"),
            req.float_param("expires_in"),
        )
        return {}

    def _clusters(self, req: Request) -> dict:
        body = dict(req.json())
        cluster_id = check_str(body.pop("cluster_id", None), "cluster_id")
        return self.add_cluster(cluster_id, **body)

    def _secrets(self, req: Request) -> dict:
        scope = req.str_param("scope", required=True)
        key = req.str_param("key", required=True)
        value = check_str(req.json().get("value"), "value")
        if value is None:
            raise invalid("value is required.")
        self.put_secret(scope, key, value)
        return {}

    def _jobs(self, req: Request) -> dict:
        return {"job_id": self.create_job(check_dict(req.json(), "settings"))}
