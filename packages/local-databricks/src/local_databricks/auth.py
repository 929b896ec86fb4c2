"""Credentials: personal access tokens, OAuth M2M clients and the tokens issued to them."""

from __future__ import annotations

import base64
import secrets
import threading
import time
from dataclasses import dataclass

from .errors import ApiError

# The identity every PAT belongs to (SCIM Me, creator_user_name of runs and jobs).
PAT_USER = "local.user@example.com"


class OAuthError(Exception):
    """An OAuth token endpoint error, answered as `{"error", "error_description"}`."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


@dataclass
class _IssuedToken:
    client_id: str
    expires_at: float


class AuthStore:
    """Thread-safe store of accepted credentials; `authenticate` checks an Authorization header."""

    def __init__(self, token_ttl_seconds: float = 3600) -> None:
        self._lock = threading.Lock()
        self.token_ttl_seconds = token_ttl_seconds
        self._pats: dict[str, float | None] = {}
        self._clients: dict[str, tuple[str, float | None]] = {}
        self._issued: dict[str, _IssuedToken] = {}
        # Service principals that get tokens elsewhere (an Entra ID app): application ids.
        self._principals: set[str] = set()

    def add_pat(self, token: str, lifetime_seconds: float | None = None) -> None:
        """Accept `token` as a personal access token (for `lifetime_seconds`, else forever)."""
        expires = time.monotonic() + lifetime_seconds if lifetime_seconds else None
        with self._lock:
            self._pats[token] = expires

    def remove_pat(self, token: str) -> None:
        """Stop accepting a personal access token."""
        with self._lock:
            self._pats.pop(token, None)

    def add_client(self, client_id: str, client_secret: str, ttl: float | None = None) -> None:
        """Accept an OAuth M2M client; `ttl` overrides the default token lifetime for it."""
        with self._lock:
            self._clients[client_id] = (client_secret, ttl)

    def client_ids(self) -> list[str]:
        """The application ids of the service principals (OAuth clients, Entra apps), sorted."""
        with self._lock:
            return sorted({*self._clients, *self._principals})

    def add_service_principal(self, application_id: str) -> None:
        """Know a service principal whose tokens come from elsewhere (`add_issued`)."""
        with self._lock:
            self._principals.add(application_id)

    def add_issued(self, token: str, identity: str, ttl: float) -> None:
        """Accept `token` as a Bearer token of `identity` for `ttl` seconds (an Entra token)."""
        with self._lock:
            self._issued[token] = _IssuedToken(identity, time.monotonic() + ttl)

    def revoke_tokens(self) -> None:
        """Invalidate every PAT and every issued OAuth token (clients can still get new tokens)."""
        with self._lock:
            self._pats.clear()
            self._issued.clear()

    def secret_values(self) -> list[str]:
        """Every credential it knows (PATs, client secrets, issued tokens), for log redaction."""
        with self._lock:
            return [*self._pats, *(c[0] for c in self._clients.values()), *self._issued]

    def clear(self) -> None:
        """Forget all credentials."""
        with self._lock:
            self._pats.clear()
            self._clients.clear()
            self._issued.clear()
            self._principals.clear()

    def issue_token(self, authorization: str | None, form: dict[str, str]) -> dict:
        """Handle a client_credentials grant; return the token response or raise OAuthError."""
        client_id = form.get("client_id")
        client_secret = form.get("client_secret")
        if authorization and authorization.lower().startswith("basic "):
            try:
                raw = base64.b64decode(authorization[6:].strip()).decode("utf-8")
                client_id, _, client_secret = raw.partition(":")
            except (ValueError, UnicodeDecodeError) as exc:
                raise OAuthError(
                    400, "invalid_request", "Malformed Basic authorization header."
                ) from exc
        if not client_id:
            raise OAuthError(401, "invalid_client", "Client authentication failed.")
        grant_type = form.get("grant_type")
        if grant_type != "client_credentials":
            raise OAuthError(
                400,
                "unsupported_grant_type",
                f"Grant type {grant_type!r} is not supported; use client_credentials.",
            )
        with self._lock:
            known = self._clients.get(client_id)
            # bytes, so a non-ASCII secret is compared (and refused) rather than a TypeError
            given = (client_secret or "").encode("utf-8", "surrogatepass")
            expected = known[0].encode("utf-8", "surrogatepass") if known else b""
            if known is None or not secrets.compare_digest(expected, given):
                raise OAuthError(401, "invalid_client", "Client authentication failed.")
            ttl = known[1] if known[1] is not None else self.token_ttl_seconds
            token = "local-oauth-" + secrets.token_hex(24)
            self._issued[token] = _IssuedToken(client_id, time.monotonic() + ttl)
        return {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": int(ttl),
            "scope": form.get("scope") or "all-apis",
        }

    def authenticate(self, authorization: str | None) -> str:
        """Return the user name behind an Authorization header, or raise a 401 ApiError."""
        if not authorization or not authorization.lower().startswith("bearer "):
            raise ApiError(
                401,
                "UNAUTHENTICATED",
                "Credential was not sent or was of an unsupported type for this API.",
            )
        token = authorization[7:].strip()
        with self._lock:
            if token in self._pats:
                expires = self._pats[token]
                if expires is None or time.monotonic() < expires:
                    return PAT_USER
                del self._pats[token]
                raise ApiError(401, "UNAUTHENTICATED", "Invalid access token: the token expired.")
            issued = self._issued.get(token)
            if issued is not None:
                if time.monotonic() < issued.expires_at:
                    return issued.client_id
                del self._issued[token]
                raise ApiError(401, "UNAUTHENTICATED", "Invalid access token: the token expired.")
        raise ApiError(401, "UNAUTHENTICATED", "Invalid access token.")
