"""Request dispatch: the checks made from a request's headers (origin, admin token, faults,
route, credential), then the handler on its body, and the call log. No sockets here (server.py)."""

from __future__ import annotations

import json
import secrets
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from .auth import AuthStore
from .calls import CallLog, redact
from .errors import ApiError
from .faults import FaultStore
from .routing import Request, Response, Route, Router

ADMIN_PREFIX = "/__local-databricks/"


@dataclass
class Pending:
    """A request whose headers are checked, before its body is read.

    `response` is set when the headers alone decide the answer (bad Host, no credential, unknown
    route, a fault); otherwise `route` is the handler to call once the body is in.
    """

    req: Request
    admin: bool
    started: float
    route: Route | None = None
    response: Response | None = None

    @property
    def stream(self) -> bool:
        """Whether the body goes to a spool file (uploads) rather than memory."""
        return self.route is not None and self.route.stream


class Dispatcher:
    """Turns raw requests into responses: admin API, faults, auth, routes, call log.

    `begin` works from the request line and headers only (so an unauthenticated or unknown
    request is answered without reading its body); `finish` runs the handler on the body.
    """

    def __init__(
        self,
        router: Router,
        admin_router: Router,
        auth: AuthStore,
        faults: FaultStore,
        calls: CallLog,
        verbose: bool = False,
        admin_token: str = "",
        known_secrets: Callable[[], Iterable[str]] | None = None,
        spool_dir: Path | None = None,
    ) -> None:
        self.router = router
        self.admin_router = admin_router
        self.auth = auth
        self.faults = faults
        self.calls = calls
        self.verbose = verbose
        self.admin_token = admin_token
        self.known_secrets = known_secrets or (lambda: ())
        self.spool_dir = spool_dir or Path(tempfile.gettempdir())
        self.host = ""
        self.allowed_hosts: frozenset[str] = frozenset()

    def bind(self, url: str, port: int) -> None:
        """Record where the server listens: the only Host values it answers."""
        self.host = url
        self.allowed_hosts = frozenset(
            f"{name}:{port}" for name in ("127.0.0.1", "localhost", "[::1]")
        )

    def dispatch(self, method: str, target: str, headers, body: bytes) -> Response:
        """Answer one request whose body is already in memory (`begin` then `finish`)."""
        pending = self.begin(method, target, headers)
        if pending.response is not None:
            return pending.response
        return self.finish(pending, body)

    def begin(self, method: str, target: str, headers) -> Pending:
        """Check a request from its request line and headers alone (origin, credentials, route)."""
        split = urlsplit(target)
        raw_path = split.path or "/"
        req = Request(method, raw_path, {}, headers, b"", self.host)
        pending = Pending(req, raw_path.startswith(ADMIN_PREFIX), time.monotonic())
        try:
            self._check_origin(headers, split.netloc)
            req.path = _decode_path(raw_path)
            req.query = _decode_query(split.query)
            if pending.admin:
                self._check_admin(req)
                pending.route = self._resolve(self.admin_router, req, authenticate=False)
            else:
                fault = self.faults.take(req.method, req.path)
                if fault is not None:
                    if fault.delay_seconds:
                        time.sleep(fault.delay_seconds)
                    if fault.error is not None:
                        raise fault.error
                pending.route = self._resolve(self.router, req, authenticate=True)
        except ApiError as exc:
            pending.response = error_response(exc)
            if not pending.admin:
                self._log(req, pending.response, pending.started)
        return pending

    def finish(self, pending: Pending, body: bytes, body_file: Path | None = None) -> Response:
        """Run the route's handler on the request body (bytes, or a spooled upload file)."""
        req = pending.req
        req.body = body
        req.body_file = body_file
        req.body_size = body_file.stat().st_size if body_file is not None else len(body)
        assert pending.route is not None
        response = self._call(pending.route, req)
        if not pending.admin:
            self._log(req, response, pending.started)
        return response

    def _check_origin(self, headers, netloc: str) -> None:
        """Refuse requests not addressed to this loopback server (DNS rebinding, browsers)."""
        host = (headers.get("Host") or "").strip().lower()
        if host not in self.allowed_hosts:
            raise ApiError(
                403,
                "PERMISSION_DENIED",
                f"Host header {host!r} is not this server: local-databricks only answers requests "
                f"addressed to {', '.join(sorted(self.allowed_hosts))}.",
            )
        if netloc and netloc.lower() not in self.allowed_hosts:
            raise ApiError(
                403,
                "PERMISSION_DENIED",
                f"Request target host {netloc!r} is not this server.",
            )
        if headers.get("Origin") is not None:
            raise ApiError(
                403,
                "PERMISSION_DENIED",
                "Requests with an Origin header (from a web browser) are refused: local-databricks "
                "does not serve cross-site requests.",
            )

    def _check_admin(self, req: Request) -> None:
        authorization = req.headers.get("Authorization") or ""
        if not authorization.lower().startswith("bearer "):
            raise ApiError(
                401,
                "UNAUTHENTICATED",
                "The admin API needs 'Authorization: Bearer <admin token>' "
                "(LOCAL_DATABRICKS_ADMIN_TOKEN, or LocalDatabricks.admin_token).",
            )
        token = authorization[7:].strip()
        if not self.admin_token or not secrets.compare_digest(
            token.encode("utf-8", "replace"), self.admin_token.encode("utf-8")
        ):
            raise ApiError(
                403,
                "PERMISSION_DENIED",
                "Invalid admin token: the admin API only accepts the admin token "
                "(LOCAL_DATABRICKS_ADMIN_TOKEN), not a workspace token.",
            )

    def _resolve(self, router: Router, req: Request, authenticate: bool) -> Route:
        """The route of `req`, once its credential (token or upload signature) is checked."""
        route, match, path_known = router.resolve(req.method, req.path)
        if authenticate and (route is None or route.auth is True):
            req.user = self.auth.authenticate(req.headers.get("Authorization"))
        if route is None:
            raise ApiError(
                404,
                "ENDPOINT_NOT_FOUND",
                f"No API found for '{req.method} {req.path}'"
                + (" (the path exists with another HTTP method)." if path_known else "."),
            )
        req.match = match
        if authenticate and callable(route.auth):
            route.auth(req)
        return route

    @staticmethod
    def _call(route: Route, req: Request) -> Response:
        try:
            result = route.handler(req)
            return result if isinstance(result, Response) else Response(200, result)
        except ApiError as exc:
            return error_response(exc)
        except Exception as exc:
            traceback.print_exc(file=sys.stderr)
            return Response(
                500,
                {"error_code": "INTERNAL_ERROR", "message": f"local-databricks bug: {exc!r}"},
            )

    def _log(self, req: Request, response: Response, started: float) -> None:
        record: dict = {
            "time": time.time(),
            "method": req.method,
            "path": req.path,
            "query": dict(req.query),
            "status": response.status,
            "duration_ms": round((time.monotonic() - started) * 1000, 3),
            "user_agent": req.headers.get("User-Agent", ""),
        }
        workspace_header = req.headers.get("X-Databricks-Workspace-Id")
        if workspace_header:
            record["workspace_id_header"] = workspace_header
        ctype = req.headers.get("Content-Type", "")
        if req.body and "json" in ctype:
            try:
                record["body"] = json.loads(req.body)
            except (ValueError, RecursionError):
                record["body_bytes"] = len(req.body)
        elif req.body_size:
            record["body_bytes"] = req.body_size
        self.calls.add(redact(record, self.known_secrets()))
        if self.verbose:
            print(f"{req.method} {req.path} -> {response.status}", file=sys.stderr, flush=True)


def error_response(exc: ApiError) -> Response:
    return Response(exc.status, exc.body(), dict(exc.headers))


def _decode_path(raw: str) -> str:
    """The percent-decoded path; 400 for undecodable bytes, NUL or other control characters.

    Routes match the raw path (the Files API decodes its own path again); this check keeps bad
    bytes from ever reaching a handler or the file system.
    """
    try:
        decoded = unquote(raw, errors="strict")
    except UnicodeDecodeError as exc:
        raise ApiError(
            400, "INVALID_PARAMETER_VALUE", "Invalid path: it is not valid percent-encoded UTF-8."
        ) from exc
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in decoded):
        raise ApiError(
            400,
            "INVALID_PARAMETER_VALUE",
            "Invalid path: it contains a NUL byte or another control character.",
        )
    return raw


def _decode_query(raw: str) -> dict[str, str]:
    """The query string as a dict; 400 naming the parameter for undecodable bytes or NUL."""
    try:
        pairs = parse_qsl(raw, keep_blank_values=True, errors="strict")
    except UnicodeDecodeError as exc:
        raise ApiError(
            400,
            "INVALID_PARAMETER_VALUE",
            "Invalid query string: it is not valid percent-encoded UTF-8.",
        ) from exc
    for name, value in pairs:
        if "\x00" in name or "\x00" in value:
            raise ApiError(
                400,
                "INVALID_PARAMETER_VALUE",
                f"Invalid value for query parameter '{name.replace(chr(0), '')}': "
                "it contains a NUL byte.",
            )
    return dict(pairs)
