"""HTTP/1.1 keep-alive server on 127.0.0.1 and request dispatch (faults, auth, routing, log)."""

from __future__ import annotations

import json
import secrets
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlsplit

from .auth import AuthStore
from .calls import CallLog, redact
from .errors import ApiError
from .faults import FaultStore
from .routing import Request, Response, Router
from .util import WORKSPACE_ID

ADMIN_PREFIX = "/__local-databricks/"
# Enough for a CI burst of parallel clients connecting at once (the stdlib default is 5).
LISTEN_BACKLOG = 256
DEFAULT_IDLE_TIMEOUT_SECONDS = 30.0
# Bodies are read into memory; refuse absurd announced lengths instead of allocating them.
MAX_BODY_BYTES = 2 * 1024 * 1024 * 1024


class Dispatcher:
    """Turns raw requests into responses: admin API, faults, auth, routes, call log."""

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
    ) -> None:
        self.router = router
        self.admin_router = admin_router
        self.auth = auth
        self.faults = faults
        self.calls = calls
        self.verbose = verbose
        self.admin_token = admin_token
        self.known_secrets = known_secrets or (lambda: ())
        self.host = ""
        self.allowed_hosts: frozenset[str] = frozenset()

    def bind(self, url: str, port: int) -> None:
        """Record where the server listens: the only Host values it answers."""
        self.host = url
        self.allowed_hosts = frozenset(
            f"{name}:{port}" for name in ("127.0.0.1", "localhost", "[::1]")
        )

    def dispatch(self, method: str, target: str, headers, body: bytes) -> Response:
        """Answer one request (the body has already been read in full)."""
        split = urlsplit(target)
        raw_path = split.path or "/"
        req = Request(method, raw_path, {}, headers, body, self.host)
        admin = raw_path.startswith(ADMIN_PREFIX)
        started = time.monotonic()
        try:
            self._check_origin(headers, split.netloc)
            req.path = _decode_path(raw_path)
            req.query = _decode_query(split.query)
        except ApiError as exc:
            response = _error_response(exc)
            if not admin:
                self._log(req, response, started)
            return response
        if admin:
            return self._admin(req)
        response = self._answer(req)
        self._log(req, response, started)
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

    def _admin(self, req: Request) -> Response:
        authorization = req.headers.get("Authorization") or ""
        if not authorization.lower().startswith("bearer "):
            return _error_response(
                ApiError(
                    401,
                    "UNAUTHENTICATED",
                    "The admin API needs 'Authorization: Bearer <admin token>' "
                    "(LOCAL_DATABRICKS_ADMIN_TOKEN, or LocalDatabricks.admin_token).",
                )
            )
        token = authorization[7:].strip()
        if not self.admin_token or not secrets.compare_digest(
            token.encode("utf-8", "replace"), self.admin_token.encode("utf-8")
        ):
            return _error_response(
                ApiError(
                    403,
                    "PERMISSION_DENIED",
                    "Invalid admin token: the admin API only accepts the admin token "
                    "(LOCAL_DATABRICKS_ADMIN_TOKEN), not a workspace token.",
                )
            )
        return self._route(self.admin_router, req, authenticate=False)

    def _answer(self, req: Request) -> Response:
        fault = self.faults.take(req.method, req.path)
        if fault is not None:
            if fault.delay_seconds:
                time.sleep(fault.delay_seconds)
            if fault.error is not None:
                return _error_response(fault.error)
        return self._route(self.router, req, authenticate=True)

    def _route(self, router: Router, req: Request, authenticate: bool) -> Response:
        try:
            route, match, path_known = router.resolve(req.method, req.path)
            if authenticate and (route is None or route.auth):
                req.user = self.auth.authenticate(req.headers.get("Authorization"))
            if route is None:
                raise ApiError(
                    404,
                    "ENDPOINT_NOT_FOUND",
                    f"No API found for '{req.method} {req.path}'"
                    + (" (the path exists with another HTTP method)." if path_known else "."),
                )
            req.match = match
            result = route.handler(req)
            return result if isinstance(result, Response) else Response(200, result)
        except ApiError as exc:
            return _error_response(exc)
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
        elif req.body:
            record["body_bytes"] = len(req.body)
        self.calls.add(redact(record, self.known_secrets()))
        if self.verbose:
            print(f"{req.method} {req.path} -> {response.status}", file=sys.stderr, flush=True)


def _error_response(exc: ApiError) -> Response:
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


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "local-databricks/0.1.0"
    # Headers and body are separate writes: without TCP_NODELAY, Nagle + delayed ACK cost 40 ms
    # on every keep-alive response.
    disable_nagle_algorithm = True
    dispatcher: Dispatcher  # set on the subclass built by HttpServer

    def log_message(self, format, *args) -> None:
        return None

    def _reject(self, status: int, code: str, message: str) -> None:
        """Answer an unreadable request and close the connection."""
        payload = json.dumps({"error_code": code, "message": message}).encode()
        self.close_connection = True
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            pass

    def _read_body(self) -> bytes:
        # Always drain the body, even for errors: leftovers would corrupt the next keep-alive
        # request on this connection.
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                line = self.rfile.readline()
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size < 0 or size > MAX_BODY_BYTES:
                    raise ValueError("bad chunk size")
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0:
            raise ValueError("negative Content-Length")
        if length > MAX_BODY_BYTES:
            raise OverflowError("body too large")
        if length == 0:
            return b""
        body = self.rfile.read(length)
        if len(body) < length:
            raise ConnectionError("the client closed the connection mid-body")
        return body

    def _handle(self) -> None:
        try:
            body = self._read_body()
        except OverflowError:
            self._reject(413, "INVALID_PARAMETER_VALUE", f"Bodies are limited to {MAX_BODY_BYTES}.")
            return
        except ValueError:
            self._reject(400, "MALFORMED_REQUEST", "Invalid Content-Length or chunked encoding.")
            return
        except OSError:  # includes the idle timeout: drop the connection
            self.close_connection = True
            return
        response = self.dispatcher.dispatch(self.command, self.path, self.headers, body)
        payload = response.encode()
        self.send_response(response.status)
        headers = {k.lower(): v for k, v in response.headers.items()}
        if response.status != 204:
            self.send_header("Content-Type", response.content_type)
        if "content-length" not in headers:
            self.send_header("Content-Length", str(len(payload)))
        self.send_header("x-databricks-org-id", WORKSPACE_ID)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD" and response.status not in (204, 304):
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle


class _Server(ThreadingHTTPServer):
    request_queue_size = LISTEN_BACKLOG
    daemon_threads = True


class HttpServer:
    """A ThreadingHTTPServer bound to 127.0.0.1 serving a Dispatcher in a daemon thread.

    The listen backlog is LISTEN_BACKLOG, and each connection is dropped after
    `idle_timeout_seconds` without a byte from the client (a stalled body, an idle keep-alive).
    """

    def __init__(
        self,
        dispatcher: Dispatcher,
        port: int = 0,
        idle_timeout_seconds: float = DEFAULT_IDLE_TIMEOUT_SECONDS,
    ) -> None:
        if not idle_timeout_seconds or idle_timeout_seconds <= 0:
            raise ValueError("idle_timeout_seconds must be positive.")
        handler = type(
            "LocalDatabricksHandler",
            (_Handler,),
            {"dispatcher": dispatcher, "timeout": float(idle_timeout_seconds)},
        )
        self._server = _Server(("127.0.0.1", port), handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port."""
        return self._server.server_address[1]

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="local-databricks-http",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread is not None:
            self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
