"""Unauthenticated discovery endpoints, the OAuth token endpoint and SCIM Me."""

from __future__ import annotations

from urllib.parse import parse_qsl

from .auth import PAT_USER, AuthStore, OAuthError
from .routing import Request, Response, Router
from .scim import service_principal_resource, user_resource
from .util import WORKSPACE_ID


class IdentityService:
    """OIDC discovery, host metadata, client_credentials tokens and the current user."""

    def __init__(self, auth: AuthStore, host: str) -> None:
        self.auth = auth
        self.host = host

    def register(self, router: Router) -> None:
        """Add the identity routes (the first three need no auth)."""
        router.add("GET", r"/", self.home, auth=False)
        router.add("GET", r"/\.well-known/databricks-config", self.host_metadata, auth=False)
        router.add(
            "GET", r"/oidc/\.well-known/oauth-authorization-server", self.discovery, auth=False
        )
        router.add("POST", r"/oidc/v1/token", self.token, auth=False)
        router.add("GET", r"/api/2\.0/preview/scim/v2/Me", self.me)

    def home(self, req: Request) -> Response:
        """GET /: where a run's page URL (``<host>/?o=...#job/<id>/run/<id>``) leads in a browser.

        A workspace shows the run there; local Databricks has no web UI, so a short page says so
        and how to read the run, instead of an API error (the browser sends no token)."""
        page = (
            "<!doctype html><title>local Databricks</title><h1>local Databricks</h1>"
            "<p>An offline stand-in for the Databricks REST API: it has no web UI. The run this "
            "link names ran here; read it with the API, for example "
            "<code>GET /api/2.2/jobs/runs/get?run_id=&lt;id&gt;</code> and "
            "<code>GET /api/2.2/jobs/runs/get-output?run_id=&lt;task run id&gt;</code> "
            "(with the server's token), or in the Dagster run's logs and metadata.</p>"
        )
        return Response(200, page.encode(), content_type="text/html; charset=utf-8")

    def host_metadata(self, req: Request) -> dict:
        """GET /.well-known/databricks-config (used by newer SDKs)."""
        return {"oidc_endpoint": f"{self.host}/oidc", "workspace_id": WORKSPACE_ID, "cloud": "AWS"}

    def discovery(self, req: Request) -> dict:
        """GET /oidc/.well-known/oauth-authorization-server."""
        oidc = f"{self.host}/oidc"
        return {
            "issuer": oidc,
            "authorization_endpoint": f"{oidc}/v1/authorize",
            "token_endpoint": f"{oidc}/v1/token",
            "jwks_uri": f"{oidc}/jwks.json",
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "response_types_supported": ["code"],
            "scopes_supported": ["all-apis", "offline_access"],
        }

    def token(self, req: Request) -> Response:
        """POST /oidc/v1/token: client_credentials with HTTP Basic (or form) client auth."""
        form = dict(parse_qsl(req.body.decode("utf-8", errors="replace"), keep_blank_values=True))
        try:
            body = self.auth.issue_token(req.headers.get("Authorization"), form)
        except OAuthError as exc:
            return Response(exc.status, {"error": exc.error, "error_description": exc.description})
        return Response(200, body, {"Cache-Control": "no-store"})

    def me(self, req: Request) -> dict:
        """GET SCIM Me (camelCase, as the SDK expects): the user, or the OAuth client's service
        principal as a User (`userName` is its application id)."""
        user = req.user
        if user == PAT_USER:
            return user_resource(user)
        principal = service_principal_resource(user)
        return {
            "id": principal["id"],
            "userName": user,
            "displayName": principal["displayName"],
            "active": True,
            "externalId": user,
            "groups": principal["groups"],
            "schemas": [
                "urn:ietf:params:scim:schemas:core:2.0:User",
                "urn:ietf:params:scim:schemas:extension:workspace:2.0:User",
            ],
        }
