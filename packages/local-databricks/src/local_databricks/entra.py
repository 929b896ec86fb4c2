"""A local Microsoft Entra ID token endpoint (client credentials) for `azure-client-secret` auth.

`POST /local-entra/{tenant}/oauth2/token` (v1: `resource`) and `.../oauth2/v2.0/token` (v2:
`scope` ending in `/.default`) answer as Entra does, for one registered app. The token it issues
is a Bearer token of the workspace API, whose identity is the app's service principal (its
application id, the Entra client id), as on Azure Databricks. Errors are Entra's JSON
(`error`, `error_description` starting with an AADSTS code, `error_codes`).
"""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import parse_qsl

from .auth import AuthStore
from .routing import Request, Response, Router

ENTRA_PREFIX = "/local-entra/"
DEFAULT_TENANT = "local-tenant"
DEFAULT_CLIENT_ID = "local-client"
DEFAULT_CLIENT_SECRET = "local-secret"  # pragma: allowlist secret


@dataclass(frozen=True)
class EntraApp:
    """The one app registration of the local tenant."""

    tenant_id: str = DEFAULT_TENANT
    client_id: str = DEFAULT_CLIENT_ID
    client_secret: str = DEFAULT_CLIENT_SECRET


class EntraError(Exception):
    """An Entra token endpoint error: status, OAuth `error`, AADSTS number and text."""

    def __init__(self, status: int, error: str, code: int, text: str) -> None:
        super().__init__(text)
        self.status, self.error, self.code, self.text = status, error, code, text

    def response(self) -> Response:
        """The error body as Entra sends it."""
        now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
        trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
        description = (
            f"AADSTS{self.code}: {self.text} Trace ID: {trace} Correlation ID: {correlation} "
            f"Timestamp: {now}"
        )
        body = {
            "error": self.error,
            "error_description": description,
            "error_codes": [self.code],
            "timestamp": now,
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": f"https://login.microsoftonline.com/error?code={self.code}",
        }
        return Response(self.status, body, {"Cache-Control": "no-store"})


def _missing(name: str) -> EntraError:
    return EntraError(
        400, "invalid_request", 900144, f"The request body must contain the following "
        f"parameter: '{name}'."
    )  # fmt: skip


class EntraService:
    """The token endpoint; issued tokens go to the AuthStore as the app's identity."""

    def __init__(self, auth: AuthStore, app: EntraApp, ttl_seconds: float = 3600) -> None:
        self.auth = auth
        self.app = app
        self.ttl_seconds = ttl_seconds

    def install(self) -> None:
        """Make the app's service principal known to the workspace (SCIM, grants)."""
        self.auth.add_service_principal(self.app.client_id)

    def register(self, router: Router) -> None:
        """Add the token routes (no workspace credential: Entra is another service)."""
        base = ENTRA_PREFIX + r"([^/]+)/oauth2/"
        router.add("POST", base + "token", lambda req: self.token(req, v2=False), auth=False)
        router.add("POST", base + r"v2\.0/token", lambda req: self.token(req, v2=True), auth=False)

    def token(self, req: Request, v2: bool) -> Response:
        """POST .../oauth2[/v2.0]/token, form-encoded client credentials."""
        form = dict(parse_qsl(req.body.decode("utf-8", errors="replace"), keep_blank_values=True))
        try:
            return Response(200, self.issue(req.group(1), form, v2), {"Cache-Control": "no-store"})
        except EntraError as exc:
            return exc.response()

    def issue(self, tenant: str, form: dict[str, str], v2: bool) -> dict:
        """The token response for a client_credentials request, or raise EntraError."""
        app = self.app
        if tenant != app.tenant_id:
            raise EntraError(
                400, "invalid_request", 90002, f"Tenant '{tenant}' not found. Check to make sure "
                "you have the correct tenant ID and are signing into the correct cloud."
            )  # fmt: skip
        grant_type = form.get("grant_type")
        if not grant_type:
            raise _missing("grant_type")
        if grant_type != "client_credentials":
            raise EntraError(
                400, "unsupported_grant_type", 70003, f"The app requested an unsupported grant "
                f"type '{grant_type}'."
            )  # fmt: skip
        client_id = form.get("client_id")
        if not client_id:
            raise _missing("client_id")
        if client_id != app.client_id:
            raise EntraError(
                400, "unauthorized_client", 700016, f"Application with identifier '{client_id}' "
                f"was not found in the directory '{tenant}'. This can happen if the application "
                "has not been installed by the administrator of the tenant or consented to by "
                "any user in the tenant. You may have sent your authentication request to the "
                "wrong tenant."
            )  # fmt: skip
        secret = form.get("client_secret")
        if not secret:
            raise EntraError(
                401, "invalid_client", 7000216, "'client_assertion', 'client_secret' or "
                "'request' is required for the 'client_credentials' grant type."
            )  # fmt: skip
        if not secrets.compare_digest(
            secret.encode("utf-8", "surrogatepass"), app.client_secret.encode("utf-8")
        ):
            raise EntraError(
                401, "invalid_client", 7000215, "Invalid client secret provided. Ensure the "
                "secret being sent in the request is the client secret value, not the client "
                f"secret ID, for a secret added to app '{client_id}'."
            )  # fmt: skip
        audience = self._audience(form, v2)
        token = "local-entra-" + secrets.token_hex(24)
        ttl = int(self.ttl_seconds)
        self.auth.add_issued(token, app.client_id, ttl)
        if v2:
            return {
                "token_type": "Bearer",
                "expires_in": ttl,
                "ext_expires_in": ttl,
                "access_token": token,
            }
        now = int(time.time())
        return {  # v1 sends its numbers as strings
            "token_type": "Bearer",
            "expires_in": str(ttl),
            "ext_expires_in": str(ttl),
            "expires_on": str(now + ttl),
            "not_before": str(now),
            "resource": audience,
            "access_token": token,
        }

    @staticmethod
    def _audience(form: dict[str, str], v2: bool) -> str:
        if not v2:
            resource = form.get("resource")
            if not resource:
                raise _missing("resource")
            return resource
        scope = form.get("scope")
        if not scope:
            raise _missing("scope")
        if not scope.endswith("/.default"):
            raise EntraError(
                400, "invalid_scope", 1002012, f"The provided value for scope {scope} is not "
                "valid. Client credential flows must have a scope value with /.default "
                "suffixed to the resource identifier (application ID URI)."
            )  # fmt: skip
        return scope[: -len("/.default")]
