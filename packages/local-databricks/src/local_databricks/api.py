"""`LocalDatabricks`: the in-process handle that wires storage, services and the HTTP server."""

from __future__ import annotations

import secrets
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from .admin import Admin
from .auth import PAT_USER, AuthStore
from .calls import CallLog
from .clusters import NODE_TYPE_IDS, ClusterService
from .command_execution import CommandExecutionService
from .dispatch import Dispatcher
from .entra import EntraApp, EntraService
from .executor import install_shim
from .faults import BehaviourQueue, FaultSpec, FaultStore
from .files import FileService
from .grants import GrantService
from .identity import IdentityService
from .instance_pools import InstancePoolService
from .jobs import JobService
from .paths import Storage
from .permissions import GROUPS, PermissionService
from .repos import RepoService
from .routing import Request, Router
from .run_export import RunExportService
from .runs import SPARK_MODES, RunConfig
from .scheduling import RunManager
from .scim import ScimService
from .secrets_api import SecretService
from .server import DEFAULT_IDLE_TIMEOUT_SECONDS, HttpServer
from .serverless import ServerlessSetting
from .shared_spark import AttachedSpark, SharedSpark
from .tokens import TokenService
from .unity_catalog import UnityCatalogService
from .util import WORKSPACE_ID, random_token
from .workspace import WorkspaceService
from .workspace_conf import WorkspaceConfService


class LocalDatabricks:
    """An offline Databricks workspace served over HTTP on 127.0.0.1.

    Use as a context manager, or call `start()`/`stop()`. Credentials are random unless given.
    ``shared_spark``: a :meth:`SharedSpark.standalone` (or an `AttachedSpark`) its tasks use
    instead of a Spark of its own (servers of one test session share a warm JVM); the server
    drops its tables when it stops, if its tasks used it, and leaves it running.
    """

    def __init__(
        self,
        root: str | Path | None = None,
        port: int = 0,
        token: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        cluster_start_seconds: float = 0.0,
        python: str | None = None,
        oauth_token_ttl_seconds: float = 3600,
        serverless_start_seconds: float | None = None,
        verbose: bool = False,
        admin_token: str | None = None,
        idle_timeout_seconds: float = DEFAULT_IDLE_TIMEOUT_SECONDS,
        require_volumes: bool = False,
        volumes: list[str] | tuple[str, ...] = (),
        spark_mode: str = "shared",
        shared_spark: SharedSpark | AttachedSpark | None = None,
        serverless_enabled: bool = True,
        entra: EntraApp | None = None,
    ) -> None:
        if spark_mode not in SPARK_MODES:
            raise ValueError(
                f"spark_mode must be one of {', '.join(SPARK_MODES)}, not {spark_mode!r} "
                '(for example spark_mode="shared").'
            )
        self._root_arg = Path(root) if root is not None else None
        self._port_arg = port
        self._idle_timeout = float(idle_timeout_seconds)
        if self._idle_timeout <= 0:
            raise ValueError("idle_timeout_seconds must be positive.")
        self.admin_token = admin_token or "ldadmin" + secrets.token_hex(16)
        self.token = token or random_token()
        self.client_id = client_id or "local-" + secrets.token_hex(8)
        self.client_secret = client_secret or "dose" + secrets.token_hex(16)
        self.run_config = RunConfig(
            python=python or sys.executable,
            cluster_start_seconds=float(cluster_start_seconds),
            serverless_start_seconds=serverless_start_seconds,
            require_volumes=bool(require_volumes),
            spark_mode=spark_mode,
            serverless_enabled=bool(serverless_enabled),
        )
        self.require_volumes = bool(require_volumes)
        self._volumes = [str(v) for v in volumes]
        # A shared Spark made by someone else (SharedSpark.standalone): used, reset, not stopped.
        self._given_spark = shared_spark
        for path in self._volumes:
            _check_volume_path(path)
        self.unity_catalog: UnityCatalogService | None = None
        self.auth = AuthStore(oauth_token_ttl_seconds)
        self.entra = EntraService(self.auth, entra or EntraApp(), oauth_token_ttl_seconds)
        self.faults = FaultStore()
        self.behaviours = BehaviourQueue()
        self.call_log = CallLog()
        self.clusters = ClusterService(lambda: self.run_config.cluster_start_seconds)
        self.secrets = SecretService()
        self.instance_pools = InstancePoolService(NODE_TYPE_IDS, self.clusters.pool_usage)
        self.clusters.pools = self.instance_pools
        self.workspace_conf = WorkspaceConfService()
        self.admin = Admin(
            self.faults,
            self.behaviours,
            self.run_config,
            self.auth,
            self.clusters,
            self.secrets,
            self.call_log,
            reset=self.reset,
            url=lambda: self.url,
        )
        self._verbose = verbose
        self._root: Path | None = None
        self._owns_root = False
        self._server: HttpServer | None = None
        self._url = ""

    # ---- lifecycle -----------------------------------------------------------------------------

    def start(self) -> LocalDatabricks:
        """Create the root, bind the port and serve in a background thread."""
        if self._server is not None:
            return self
        if self._root_arg is None:
            self._root = Path(tempfile.mkdtemp(prefix="local-databricks-"))
            self._owns_root = True
        else:
            self._root = self._root_arg.resolve()
            self._root.mkdir(parents=True, exist_ok=True)
        self.storage = Storage(self._root)
        self.storage.create()
        install_shim(self.storage)
        self._install_credentials()

        router, admin_router = Router(), Router()
        self.dispatcher = Dispatcher(
            router,
            admin_router,
            self.auth,
            self.faults,
            self.call_log,
            self._verbose,
            admin_token=self.admin_token,
            known_secrets=self._known_secrets,
            spool_dir=self.storage.root / "spool",
        )
        self._server = HttpServer(self.dispatcher, self._port_arg, self._idle_timeout)
        self._url = f"http://127.0.0.1:{self._server.port}"
        self.dispatcher.bind(self._url, self._server.port)

        self.unity_catalog = UnityCatalogService(self.storage, self.require_volumes)
        for path in self._volumes:
            self.unity_catalog.create_volume(path)
        self.files = FileService(self.storage, self.unity_catalog.check_volume_path)
        self.workspace = WorkspaceService(self.storage)
        self.workspace.reset(self._homes())
        self.repos = RepoService(self.workspace)
        self.manager = RunManager(
            self.run_config, self.storage, self.clusters, self.secrets, self._url, self.auth
        )
        self.jobs = JobService(self.manager, self.behaviours)
        self.grants = GrantService(self.unity_catalog, self._principals)
        self.permissions = PermissionService(
            self.jobs, self.clusters, self.workspace, self.auth.client_ids
        )
        serverless = ServerlessSetting(self.run_config)
        self.jobs.checks.append(serverless.check)
        self.admin.serve(self.jobs, self.manager)
        IdentityService(self.auth, self._url).register(router)
        self.tokens = TokenService(self.auth)
        self.commands = CommandExecutionService(
            self.clusters, self.auth, self.storage, lambda: self.run_config.python, self._url,
            self.secrets,
        )  # fmt: skip
        self.shared_spark: SharedSpark | AttachedSpark = self._given_spark or (
            SharedSpark.for_storage(self.storage, self.run_config.python, self.require_volumes)
        )
        self._spark_used = False
        router.add("POST", r"/api/2\.0/local-databricks/spark-gateway", self._spark_gateway)
        for service in (
            self.jobs,
            self.files,
            self.workspace,
            self.clusters,
            self.secrets,
            self.tokens,
            self.unity_catalog,
            self.instance_pools,
            self.workspace_conf,
            self.repos,
            self.commands,
            ScimService(self.auth.client_ids),
            RunExportService(self.manager, self.storage),
            self.grants,
            self.permissions,
            serverless,
            self.entra,
        ):
            service.register(router)
        self.admin.register(admin_router)
        self._server.start()
        return self

    def stop(self) -> None:
        """Cancel runs (killing their processes), stop serving, remove a temporary root."""
        if self._server is None:
            return
        self.manager.shutdown()
        self.commands.reset()
        try:
            self._let_go_of_spark()
        finally:
            self._server.stop()
            self._server = None
        if self._owns_root and self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)

    def __enter__(self) -> LocalDatabricks:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def _spark_gateway(self, req: Request) -> dict:
        """POST spark-gateway (a local-databricks extension, not a Databricks API): {port,
        secret} of the shared Spark's py4j gateway, started on the first request."""
        self._spark_used = True
        return self.shared_spark.ensure()

    def _let_go_of_spark(self) -> None:
        # A given shared Spark outlives this server: the tables go if its tasks used it (the
        # servers of other tests, that never asked for Spark, leave the catalog alone).
        if self._given_spark is None:
            self.shared_spark.stop()
        elif self._spark_used:
            self._spark_used = False
            self.shared_spark.reset()

    def warm_spark(self) -> None:
        """Start the shared local Spark now (spark_mode="shared"): the first task finds it warm."""
        self.shared_spark.ensure()

    def _known_secrets(self) -> list[str]:
        secrets_ = [*self.auth.secret_values(), *self.secrets.secret_values()]
        return [*secrets_, self.admin_token, self.entra.app.client_secret]

    def _principals(self) -> set[str]:
        return {PAT_USER, *self.auth.client_ids(), *GROUPS, "account users"}

    def _homes(self) -> list[str]:
        return [PAT_USER, self.client_id, self.entra.app.client_id]

    def _install_credentials(self) -> None:
        self.auth.clear()
        self.auth.add_pat(self.token)
        self.auth.add_client(self.client_id, self.client_secret)
        self.entra.install()

    def reset(self) -> None:
        """Back to a fresh workspace: no runs, jobs, files, faults, calls, clusters or secrets.

        Only the volumes given as `volumes=` exist again afterwards (empty).
        """
        self.manager.clear()
        self._let_go_of_spark()  # its tables live in the spark directory removed below
        self.jobs.reset()
        self.files.reset()
        self.faults.clear()
        self.behaviours.clear()
        self.call_log.clear()
        self.clusters.reset()
        self.commands.reset()
        self.instance_pools.reset()
        self.workspace_conf.reset()
        self.repos.reset()
        self.secrets.reset()
        self.tokens.reset()
        self.grants.reset()
        self.permissions.reset()
        self._install_credentials()
        for directory in (
            self.storage.dbfs,
            self.storage.volumes,
            self.storage.workspace,
            self.storage.runs,
            self.storage.spark,
        ):
            shutil.rmtree(directory, ignore_errors=True)
        self.storage.create()
        self.workspace.reset(self._homes())
        assert self.unity_catalog is not None
        self.unity_catalog.reset()
        for path in self._volumes:
            self.unity_catalog.create_volume(path)

    # ---- properties ----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT` (empty before start)."""
        return self._url

    @property
    def root(self) -> Path:
        """The state directory (dbfs/, Volumes/, workspace/, runs/, spark/)."""
        if self._root is None:
            raise RuntimeError("LocalDatabricks is not started.")
        return self._root

    @property
    def workspace_id(self) -> str:
        """The workspace id reported in x-databricks-org-id and host metadata."""
        return WORKSPACE_ID

    def entra_token_url(self, tenant: str | None = None, v2: bool = False) -> str:
        """The local Entra ID token endpoint of `tenant` (default: the registered app's)."""
        path = "oauth2/v2.0/token" if v2 else "oauth2/token"
        return f"{self.url}/local-entra/{tenant or self.entra.app.tenant_id}/{path}"

    def env(self, auth: str = "pat") -> dict[str, str]:
        """DATABRICKS_* variables for a client: auth="pat" or "oauth-m2m"."""
        if auth == "pat":
            return {"DATABRICKS_HOST": self.url, "DATABRICKS_TOKEN": self.token}
        if auth == "oauth-m2m":
            return {
                "DATABRICKS_HOST": self.url,
                "DATABRICKS_CLIENT_ID": self.client_id,
                "DATABRICKS_CLIENT_SECRET": self.client_secret,
            }
        raise ValueError(f"auth must be 'pat' or 'oauth-m2m', not {auth!r}")

    # ---- admin helpers (same implementation as the HTTP admin API) ------------------------------

    def inject_fault(self, *args: Any, **kwargs: Any) -> dict:
        """Answer the next `times` requests matching method + path regex with `status`.

        The arguments are `FaultSpec`'s fields (see there), by position or by name.
        """
        return self.admin.inject_fault(FaultSpec(*args, **kwargs))

    def clear_faults(self) -> None:
        """Remove all fault rules."""
        self.admin.clear_faults()

    def set_run_behaviour(
        self,
        pending_seconds: float | None = None,
        result: str | None = None,
        times: int = 1,
        message: str | None = None,
    ) -> None:
        """Force the next `times` runs: cold start and/or FAILED/INTERNAL_ERROR/CRASH/HANG."""
        self.admin.set_run_behaviour(pending_seconds, result, times, message)

    def set_cluster_start_seconds(self, seconds: float, serverless: float | None = None) -> None:
        """Change the simulated cluster start delay for new clusters."""
        self.admin.set_cluster_start_seconds(seconds, serverless)

    def revoke_tokens(self) -> None:
        """Invalidate every current PAT and OAuth token."""
        self.admin.revoke_tokens()

    def register_tokens(
        self,
        pat: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        expires_in: float | None = None,
    ) -> None:
        """Accept another PAT and/or OAuth client."""
        self.admin.register_tokens(pat, client_id, client_secret, expires_in)

    def calls(self) -> list[dict]:
        """The call log: method, path, query, status, duration_ms, JSON body (no credentials)."""
        return self.admin.calls()

    def clear_calls(self) -> None:
        """Empty the call log."""
        self.admin.clear_calls()

    def runs(self) -> list[dict]:
        """All runs as runs/get returns them, newest first."""
        return self.admin.runs()

    def get_run(self, run_id: int) -> dict:
        """One run as runs/get returns it."""
        return self.admin.get_run(run_id)

    def add_cluster(self, cluster_id: str | None = None, **fields: Any) -> dict:
        """Seed an existing all-purpose cluster (RUNNING unless `state` is given)."""
        return self.admin.add_cluster(cluster_id, **fields)

    def put_secret(self, scope: str, key: str, value: str) -> None:
        """Store a secret, creating its scope when needed."""
        self.admin.put_secret(scope, key, value)

    def create_job(self, settings: dict) -> int:
        """Create a job from JobSettings JSON; returns its job id."""
        return self.admin.create_job(settings)

    def set_serverless_enabled(self, enabled: bool) -> None:
        """Turn serverless compute for jobs on or off (off: serverless tasks are refused)."""
        self.admin.set_serverless_enabled(enabled)

    def create_table(self, full_name: str) -> str:
        """Register the table `catalog.schema.table` (schema must exist) so grants can name it."""
        return self.grants.add_table(full_name)

    def create_volume(self, path: str) -> dict:
        """Create the volume `/Volumes/<c>/<s>/<v>` (and its catalog and schema when missing).

        Idempotent; returns the VolumeInfo. Before start(), the volume is created at start.
        """
        _check_volume_path(path)
        if self.unity_catalog is None:
            self._volumes.append(path)
            return {}
        return self.unity_catalog.create_volume(path)


def _check_volume_path(path: str) -> None:
    parts = path.strip("/").split("/")
    if len(parts) != 4 or parts[0] != "Volumes" or not all(parts[1:]):
        raise ValueError(f"A volume is /Volumes/<catalog>/<schema>/<volume>, not {path!r}.")
