"""Secrets API: scopes and secrets, also used to resolve `{{secrets/<scope>/<key>}}`."""

from __future__ import annotations

import re
import threading

from .errors import already_exists, does_not_exist, invalid
from .routing import Request, Router, check_str
from .util import b64decode, b64encode, now_ms

_NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")
SECRET_REF_RE = re.compile(r"\{\{\s*secrets/([^/}\s]+)/([^}\s]+)\s*\}\}")


class SecretService:
    """In-memory secret scopes (Databricks-backed)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scopes: dict[str, dict[str, tuple[bytes, int]]] = {}

    def reset(self) -> None:
        """Forget all scopes."""
        with self._lock:
            self._scopes.clear()

    def register(self, router: Router) -> None:
        """Add the secrets routes."""
        base = r"/api/2\.0/secrets/"
        router.add("POST", base + "scopes/create", self.create_scope)
        router.add("GET", base + "scopes/list", self.list_scopes)
        router.add("POST", base + "scopes/delete", self.delete_scope)
        router.add("POST", base + "put", self.put)
        router.add("GET", base + "list", self.list)
        router.add("GET", base + "get", self.get)
        router.add("POST", base + "delete", self.delete)

    def put_secret(self, scope: str, key: str, value: str | bytes) -> None:
        """Store a secret, creating the scope when needed (admin helper)."""
        _check_name(scope, "scope")
        _check_name(key, "key")
        data = value.encode("utf-8") if isinstance(value, str) else bytes(value)
        with self._lock:
            self._scopes.setdefault(scope, {})[key] = (data, now_ms())

    def secret_values(self) -> list[str]:
        """Every stored secret value (text and base64), for log redaction."""
        with self._lock:
            entries = [data for scope in self._scopes.values() for data, _ in scope.values()]
        values = []
        for data in entries:
            values.append(b64encode(data))
            values.append(data.decode("utf-8", errors="replace"))
        return values

    def resolve(self, scope: str, key: str) -> str | None:
        """The secret's text, or None when the scope or key does not exist."""
        with self._lock:
            found = self._scopes.get(scope, {}).get(key)
        return found[0].decode("utf-8", errors="replace") if found else None

    def resolve_env(self, env: dict) -> tuple[dict[str, str], str | None]:
        """`spark_env_vars` with `{{secrets/scope/key}}` references replaced by their values;
        ({}, the service's message) when a reference does not resolve."""
        resolved: dict[str, str] = {}
        for name, value in env.items():
            text = str(value)
            for scope, key in SECRET_REF_RE.findall(text):
                if self.resolve(scope, key) is None:
                    return {}, (
                        f"Failed to resolve secret reference in spark_env_vars.{name}: "
                        f"Secret does not exist with scope: {scope} and key: {key}"
                    )
            resolved[str(name)] = SECRET_REF_RE.sub(
                lambda m: self.resolve(m.group(1), m.group(2)) or "", text
            )
        return resolved, None

    def _scope(self, name: object) -> dict[str, tuple[bytes, int]]:
        name = check_str(name, "scope", required=True)
        scope = self._scopes.get(name)
        if scope is None:
            raise does_not_exist(f"Scope {name} does not exist!")
        return scope

    def create_scope(self, req: Request) -> dict:
        """POST secrets/scopes/create."""
        name = req.json().get("scope")
        _check_name(name, "scope")
        with self._lock:
            if name in self._scopes:
                raise already_exists(f"Scope {name} already exists!")
            self._scopes[name] = {}
        return {}

    def list_scopes(self, req: Request) -> dict:
        """GET secrets/scopes/list."""
        with self._lock:
            names = sorted(self._scopes)
        if not names:
            return {}
        return {"scopes": [{"name": n, "backend_type": "DATABRICKS"} for n in names]}

    def delete_scope(self, req: Request) -> dict:
        """POST secrets/scopes/delete."""
        name = req.str_param("scope", required=True)
        with self._lock:
            self._scope(name)
            del self._scopes[name]
        return {}

    def put(self, req: Request) -> dict:
        """POST secrets/put with string_value or base64 bytes_value."""
        body = req.json()
        scope, key = req.str_param("scope", required=True), req.str_param("key")
        _check_name(key, "key")
        if "string_value" in body and "bytes_value" in body:
            raise invalid("Only one of string_value or bytes_value can be specified.")
        if "bytes_value" in body:
            data = b64decode(req.str_param("bytes_value"), "bytes_value")
        else:
            data = (req.str_param("string_value") or "").encode("utf-8")
        with self._lock:
            self._scope(scope)[key] = (data, now_ms())
        return {}

    def list(self, req: Request) -> dict:
        """GET secrets/list?scope=: keys and timestamps, never values."""
        with self._lock:
            items = sorted(self._scope(req.query.get("scope")).items())
        if not items:
            return {}
        return {"secrets": [{"key": k, "last_updated_timestamp": ts} for k, (_, ts) in items]}

    def get(self, req: Request) -> dict:
        """GET secrets/get?scope=&key=: the base64 value."""
        scope, key = req.query.get("scope"), req.query.get("key")
        with self._lock:
            found = self._scope(scope).get(key)
        if found is None:
            raise does_not_exist(f"Secret does not exist with scope: {scope} and key: {key}")
        return {"key": key, "value": b64encode(found[0])}

    def delete(self, req: Request) -> dict:
        """POST secrets/delete."""
        scope, key = req.str_param("scope", required=True), req.str_param("key", required=True)
        with self._lock:
            entries = self._scope(scope)
            if key not in entries:
                raise does_not_exist(
                    f"Failed to delete secret in scope {scope} and key {key}: not found."
                )
            del entries[key]
        return {}


def _check_name(name, what: str) -> None:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise invalid(
            f"Invalid {what} name {name!r}: use at most 128 letters, digits, '-', '_' and '.'."
        )
