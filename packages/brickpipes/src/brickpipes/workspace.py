"""Connection to the Databricks workspace, configured only from environment variables.

The auth method is data: :data:`AUTH_METHODS` says, per method, which resource field comes
from which environment variable and which SDK ``auth_type`` uses them. A project picks its
method in ``defs/resources.py``; switching is an environment change plus
``copier update --data auth_method=<pat|oauth-m2m|azure-client-secret|profile>``.

Requests go through ``requests``, which honours ``HTTPS_PROXY`` and ``NO_PROXY``. The SDK
retries connection errors, 429 and 503 for ``retry_timeout_seconds``; :meth:`reporting_retries`
says so in the step log and :meth:`explaining_errors` explains a workspace that never answered
or refused the credentials.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import dagster as dg
from pydantic import Field

from .errors import first_line, is_credential_rejection
from .network import RetryReporter, network_cause

if TYPE_CHECKING:
    from databricks.sdk import WorkspaceClient

AuthMethodName = Literal["pat", "oauth-m2m", "azure-client-secret", "profile"]
# Variable names, not values: the secret scan's allowlist pragmas below say so.
# The SDK logs each retry on this logger, at DEBUG (databricks/sdk/retries.py).
SDK_RETRY_LOGGER = "databricks.sdk.retries"
# Local Databricks (`brickpipes local` writes it into .env): when it names the workspace host,
# azure-client-secret gets its token from that server's Entra ID stand-in, not from Microsoft.
LOCAL_DATABRICKS_VARIABLE = "LOCAL_DATABRICKS_URL"
# The Entra ID application of Azure Databricks: the resource its tokens are issued for.
AZURE_DATABRICKS_RESOURCE = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d"


@dataclass(frozen=True)
class AuthMethod:
    """One way to authenticate: the resource fields it fills, each from its variable."""

    variables: Mapping[str, str]  # resource field -> environment variable
    auth_type: str | None  # the SDK's auth_type; None: the profile says
    host_setting: str  # where the workspace URL comes from, for messages


AUTH_METHODS: Mapping[str, AuthMethod] = {
    "pat": AuthMethod(
        {"host": "DATABRICKS_HOST", "token": "DATABRICKS_TOKEN"}, "pat", "DATABRICKS_HOST"
    ),
    "oauth-m2m": AuthMethod(
        {
            "host": "DATABRICKS_HOST",
            "client_id": "DATABRICKS_CLIENT_ID",
            "client_secret": "DATABRICKS_CLIENT_SECRET",  # pragma: allowlist secret
        },
        "oauth-m2m",
        "DATABRICKS_HOST",
    ),
    "azure-client-secret": AuthMethod(
        {
            "host": "DATABRICKS_HOST",
            "azure_client_id": "ARM_CLIENT_ID",
            "azure_client_secret": "ARM_CLIENT_SECRET",  # pragma: allowlist secret
            "azure_tenant_id": "ARM_TENANT_ID",
        },
        "azure-client-secret",
        "DATABRICKS_HOST",
    ),
    "profile": AuthMethod({"profile": "DATABRICKS_CONFIG_PROFILE"}, None, "the profile's host"),
}


class DatabricksWorkspace(dg.ConfigurableResource):
    """A Databricks workspace; build it with :meth:`from_env` so secrets stay in the environment.

    Only the fields of ``auth_method`` (:data:`AUTH_METHODS`) are set; the others stay empty.
    """

    auth_method: AuthMethodName = Field(description="How to authenticate (AUTH_METHODS).")
    host: str = Field(default="", description="Workspace URL (DATABRICKS_HOST).")
    token: str = Field(default="", description="Personal access token (DATABRICKS_TOKEN).")
    client_id: str = Field(default="", description="Service principal (DATABRICKS_CLIENT_ID).")
    client_secret: str = Field(default="", description="Its secret (DATABRICKS_CLIENT_SECRET).")
    azure_client_id: str = Field(default="", description="Entra ID app id (ARM_CLIENT_ID).")
    azure_client_secret: str = Field(default="", description="Its secret (ARM_CLIENT_SECRET).")
    azure_tenant_id: str = Field(default="", description="Entra ID tenant (ARM_TENANT_ID).")
    profile: str = Field(default="", description="~/.databrickscfg profile name.")
    http_timeout_seconds: int = Field(default=60, description="Timeout of one HTTP request.")
    # The SDK's default is 300 s: an unreachable or overloaded workspace then holds a step in
    # silence for over five minutes. 30 s rides out a blip and fails a step within a minute
    # (the SDK sleeps up to 11 s more after its last try); see the README's Configuration.
    retry_timeout_seconds: int = Field(
        default=30,
        description="How long the SDK retries 429/503 and connection errors before giving up.",
    )

    @classmethod
    def from_env(cls, auth_method: AuthMethodName, **settings: Any) -> DatabricksWorkspace:
        """Read every credential of ``auth_method`` from its environment variable when a run
        starts, not at load. ``settings`` sets the other fields, e.g. ``retry_timeout_seconds``.
        """
        variables = AUTH_METHODS[auth_method].variables
        credentials = {field: dg.EnvVar(variable) for field, variable in variables.items()}
        return cls(auth_method=auth_method, **credentials, **settings)

    @property
    def method(self) -> AuthMethod:
        """The :class:`AuthMethod` in use."""
        return AUTH_METHODS[self.auth_method]

    def get_client(self) -> WorkspaceClient:
        """Build an SDK client; the import is deferred so loading definitions stays light."""
        from databricks.sdk import WorkspaceClient
        from databricks.sdk.config import Config

        from .upstream_fixes import fetch_oauth_endpoints, probe_host, sdk_probes_host_metadata

        budget = (self.retry_timeout_seconds, self.http_timeout_seconds)
        if self.method.auth_type == "oauth-m2m":
            fetch_oauth_endpoints(self.host, *budget)
        elif sdk_probes_host_metadata():
            host = self.describe_host()  # for a profile, read from its file: once
            if host.startswith("http"):
                probe_host(host, *budget)
        credentials = {field: getattr(self, field) for field in self.method.variables}
        if self.method.auth_type is not None:
            credentials["auth_type"] = self.method.auth_type
        token_url = self.local_entra_token_url()
        if token_url is not None:
            # The SDK's azure-client-secret only asks Microsoft's login endpoints.
            credentials = {
                "host": self.host,
                "auth_type": "azure-client-secret",
                "credentials_strategy": LocalEntraCredentials(
                    token_url, self.azure_client_id, self.azure_client_secret
                ),
            }
        config = Config(
            **credentials,
            http_timeout_seconds=self.http_timeout_seconds,
            retry_timeout_seconds=self.retry_timeout_seconds,
        )
        return WorkspaceClient(config=config)

    def local_entra_token_url(self) -> str | None:
        """For azure-client-secret against local Databricks (``LOCAL_DATABRICKS_URL`` is the
        host), the token endpoint of its Entra ID stand-in; else None."""
        local = os.environ.get(LOCAL_DATABRICKS_VARIABLE, "").rstrip("/")
        if self.auth_method != "azure-client-secret" or not local:
            return None
        if self.host.rstrip("/") != local:
            return None
        return f"{local}/local-entra/{self.azure_tenant_id}/oauth2/token"

    def describe_auth(self) -> str:
        """Say which auth method and variables are in use, without any secret value."""
        variables = ", ".join(self.method.variables.values())
        return f"auth_method={self.auth_method} (variables: {variables})"

    def describe_host(self) -> str:
        """The workspace URL requests go to, for messages."""
        if self.auth_method != "profile":
            return self.host
        # As the SDK resolves it (DATABRICKS_HOST, else the profile's host), read without the
        # SDK: its Config would also authenticate, a network call for OAuth profiles.
        import configparser
        import os
        from pathlib import Path

        config = configparser.ConfigParser()
        config.read(Path(os.environ.get("DATABRICKS_CONFIG_FILE", "~/.databrickscfg")).expanduser())
        return os.environ.get("DATABRICKS_HOST") or config.get(
            self.profile, "host", fallback=f"<host of profile {self.profile}>"
        )

    @contextmanager
    def explaining_errors(self, log: Any) -> Iterator[None]:
        """Run the block reporting the SDK's retries in ``log``; rejected credentials and an
        unreachable workspace fail the step saying what to check, not with the SDK's bare error.
        """
        try:
            with self.reporting_retries(log):
                yield
        except dg.Failure:
            raise
        except Exception as error:
            if is_credential_rejection(error):
                raise dg.Failure(
                    description=(
                        f"Databricks rejected the credentials ({self.describe_auth()}): "
                        f"{first_line(error)}"
                    )
                ) from error
            failure = self.unreachable(error)
            if failure is None:
                raise
            raise failure from error

    @contextmanager
    def reporting_retries(self, log: Any) -> Iterator[None]:
        """While the block runs, say in ``log`` (the step's) when the SDK retries a request.

        The SDK retries silently for up to ``retry_timeout_seconds``; without this, a step
        facing an unreachable workspace shows nothing until it fails.
        """
        handler = RetryReporter(log, self.describe_host(), self.retry_timeout_seconds)
        logger = logging.getLogger(SDK_RETRY_LOGGER)
        saved = logger.level, logger.propagate
        if not logger.isEnabledFor(logging.DEBUG):
            # Let the DEBUG retry records reach this handler only: nobody else asked for them.
            logger.setLevel(logging.DEBUG)
            logger.propagate = False
        logger.addHandler(handler)
        try:
            yield
        finally:
            logger.removeHandler(handler)
            logger.setLevel(saved[0])
            logger.propagate = saved[1]

    def unreachable(self, error: BaseException) -> dg.Failure | None:
        """A step failure naming the host, the auth method and what to check, when ``error``
        says the workspace could not be reached or kept refusing service; else None."""
        cause = network_cause(error, self.method.host_setting)
        if cause is None:
            return None
        what, check = cause
        return dg.Failure(
            description=(
                f"Cannot use Databricks at {self.describe_host()} ({self.describe_auth()}): "
                f"{what}; the SDK gave up after retrying for {self.retry_timeout_seconds} s "
                f"(retry_timeout_seconds). Check {check}."
            )
        )


class LocalEntraCredentials:
    """An SDK credentials strategy: Entra ID client credentials (v1 token endpoint, as the
    SDK's azure-client-secret asks) exchanged at ``token_url``; the token is renewed a minute
    before it expires. A refused exchange raises Entra's error (``invalid_client: AADSTS...``).
    """

    def __init__(self, token_url: str, client_id: str, client_secret: str) -> None:
        self.token_url, self.client_id, self.client_secret = token_url, client_id, client_secret
        self._lock = threading.Lock()
        self._token, self._expires = "", 0.0

    def auth_type(self) -> str:
        return "azure-client-secret"

    def __call__(self, cfg: Any) -> Any:
        self.token()  # a wrong secret fails when the client is built, as on Azure
        return lambda: {"Authorization": f"Bearer {self.token()}"}

    def token(self) -> str:
        """A valid access token, fetched when there is none or it expires within a minute."""
        import requests

        with self._lock:
            if time.monotonic() < self._expires - 60:
                return self._token
            form = {
                "grant_type": "client_credentials",
                "client_id": self.client_id,
                "client_secret": self.client_secret,
                "resource": AZURE_DATABRICKS_RESOURCE,
            }
            response = requests.post(self.token_url, data=form, timeout=30)
            try:
                body = response.json()
            except ValueError:
                body = {}
            if not response.ok or "access_token" not in body:
                error = body.get("error", f"HTTP {response.status_code}")
                text = body.get("error_description", response.text[:200])
                raise ValueError(f"{error}: {text} (Entra ID token endpoint {self.token_url})")
            self._token = body["access_token"]
            self._expires = time.monotonic() + float(body.get("expires_in", 3600))
            return self._token
