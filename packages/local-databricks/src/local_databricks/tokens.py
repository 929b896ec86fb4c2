"""Token API (`/api/2.0/token/create|list|delete`): personal access tokens made by API calls."""

from __future__ import annotations

import secrets
import threading

from .auth import AuthStore
from .errors import does_not_exist, invalid
from .routing import Request, Router
from .util import now_ms, random_token


class TokenService:
    """PATs created through the Token API; each works as a Bearer token until deleted."""

    def __init__(self, auth: AuthStore) -> None:
        self.auth = auth
        self._lock = threading.Lock()
        self._tokens: dict[str, tuple[str, dict]] = {}

    def reset(self) -> None:
        """Forget created tokens (the AuthStore is reset separately)."""
        with self._lock:
            self._tokens.clear()

    def register(self, router: Router) -> None:
        """Add the token routes."""
        base = r"/api/2\.0/token/"
        router.add("POST", base + "create", self.create)
        router.add("GET", base + "list", self.list)
        router.add("POST", base + "delete", self.delete)

    def create(self, req: Request) -> dict:
        """POST token/create {lifetime_seconds?, comment?} -> {token_value, token_info}."""
        lifetime = req.int_param("lifetime_seconds")
        comment = req.str_param("comment", "") or ""
        if lifetime is not None and lifetime < 0:
            raise invalid("lifetime_seconds must not be negative.")
        value = random_token()
        created = now_ms()
        info = {
            "token_id": secrets.token_hex(32),
            "creation_time": created,
            "expiry_time": created + lifetime * 1000 if lifetime else -1,
            "comment": comment,
        }
        self.auth.add_pat(value, lifetime or None)
        with self._lock:
            self._tokens[info["token_id"]] = (value, info)
        return {"token_value": value, "token_info": dict(info)}

    def list(self, req: Request) -> dict:
        """GET token/list -> {token_infos} (never the values)."""
        with self._lock:
            infos = [dict(info) for _, info in self._tokens.values()]
        return {"token_infos": infos} if infos else {}

    def delete(self, req: Request) -> dict:
        """POST token/delete {token_id}."""
        token_id = req.str_param("token_id", required=True)
        with self._lock:
            found = self._tokens.pop(token_id, None)
        if found is None:
            raise does_not_exist(f"Token with ID {token_id} does not exist.", status=404)
        self.auth.remove_pat(found[0])
        return {}
