"""HTTP/1.1 keep-alive server on 127.0.0.1 and request dispatch (faults, auth, routing, log)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import socket
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from .auth import AuthStore
from .calls import CallLog, redact, summarize
from .errors import ApiError
from .faults import FaultStore
from .routing import Request, Response, Route, Router
from .util import WORKSPACE_ID

ADMIN_PREFIX = "/__local-databricks/"
# Enough for a CI burst of parallel clients connecting at once (the stdlib default is 5).
LISTEN_BACKLOG = 256
DEFAULT_IDLE_TIMEOUT_SECONDS = 30.0
# Request bodies held in memory (JSON, forms) are capped; uploads (`stream` routes) go to disk,
# up to MAX_BODY_BYTES. 16 MiB holds the largest JSON the APIs take: a 10 MB workspace import,
# base64-encoded.
MAX_JSON_BODY_BYTES = 16 * 1024 * 1024
MAX_BODY_BYTES = 2 * 1024 * 1024 * 1024
# Chunked framing: a chunk-size (or trailer) line and the number of trailer lines are bounded.
MAX_CHUNK_LINE = 1024
MAX_TRAILER_LINES = 64
READ_PIECE = 64 * 1024
# How long a refused request's unread body is discarded after the answer, before closing.
LINGER_SECONDS = 2.0


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
            pending.response = _error_response(exc)
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
                record["body"] = summarize(json.loads(req.body))
            except (ValueError, RecursionError):
                record["body_bytes"] = len(req.body)
        elif req.body_size:
            record["body_bytes"] = req.body_size
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
        """Answer an unreadable or refused request and close the connection."""
        self._send(Response(status, {"error_code": code, "message": message}), close=True)

    def _send(self, response: Response, close: bool = False) -> None:
        payload = response.encode()
        headers = {k.lower(): v for k, v in response.headers.items()}
        try:
            self.send_response(response.status)
            if response.status != 204:
                self.send_header("Content-Type", response.content_type)
            if "content-length" not in headers:
                self.send_header("Content-Length", str(len(payload)))
            self.send_header("x-databricks-org-id", WORKSPACE_ID)
            for name, value in response.headers.items():
                self.send_header(name, value)
            if close:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD" and response.status not in (204, 304):
                self.wfile.write(payload)
            if close:
                self.wfile.flush()
        except OSError:
            close = True
        if close:
            self.close_connection = True
            self._linger()

    def _linger(self) -> None:
        """After answering a request whose body is left unread: stop sending, then discard what
        the client still sends for a moment (never stored), so it reads the answer, not a reset."""
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + LINGER_SECONDS
            self.connection.settimeout(LINGER_SECONDS)
            while time.monotonic() < deadline and self.connection.recv(READ_PIECE):
                pass

    def _framing(self) -> int | None:
        """The announced body length; None for a chunked body. ValueError when malformed."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return None
        text = (self.headers.get("Content-Length") or "0").strip()
        if not re.fullmatch(r"\d{1,19}", text):
            raise ValueError("invalid Content-Length")
        return int(text)

    def _pieces(self, length: int | None, limit: int) -> Iterator[bytes]:
        """The body in pieces; OverflowError past `limit`, ValueError for bad chunked framing,
        ConnectionError when the client stops mid-body."""
        if length is not None:
            if length > limit:
                raise OverflowError("body too large")
            remaining = length
            while remaining:
                piece = self.rfile.read(min(remaining, READ_PIECE))
                if not piece:
                    raise ConnectionError("the client closed the connection mid-body")
                remaining -= len(piece)
                yield piece
            return
        total = 0
        while True:
            size_text = self._chunk_line().split(b";", 1)[0].strip()
            if not re.fullmatch(rb"[0-9a-fA-F]{1,16}", size_text):
                raise ValueError("bad chunk size")
            size = int(size_text, 16)
            if size == 0:
                for _ in range(MAX_TRAILER_LINES):
                    if self._chunk_line() in (b"\r\n", b"\n"):
                        return
                raise ValueError("too many trailer lines")
            total += size
            if total > limit:
                raise OverflowError("body too large")
            while size:
                piece = self.rfile.read(min(size, READ_PIECE))
                if not piece:
                    raise ConnectionError("the client closed the connection mid-body")
                size -= len(piece)
                yield piece
            if self._chunk_line() not in (b"\r\n", b"\n"):
                raise ValueError("chunk data longer than its size")

    def _chunk_line(self) -> bytes:
        """One chunk-size, chunk-end or trailer line, at most MAX_CHUNK_LINE bytes."""
        line = self.rfile.readline(MAX_CHUNK_LINE + 1)
        if not line:
            raise ConnectionError("the client closed the connection mid-body")
        if not line.endswith(b"\n"):
            raise ValueError("chunk line too long")
        return line

    def _handle(self) -> None:
        pending = self.dispatcher.begin(self.command, self.path, self.headers)
        body, spool = b"", None
        try:
            length = self._framing()
            if pending.response is not None:
                if pending.response.status in (401, 403) and length != 0:
                    # refused from the headers: the body is never read
                    self._send(pending.response, close=True)
                    return
                for _ in self._pieces(length, MAX_JSON_BODY_BYTES):
                    pass  # drained for keep-alive, not kept
                self._send(pending.response)
                return
            if pending.stream:
                spool = self._spool(length)
            else:
                body = b"".join(self._pieces(length, MAX_JSON_BODY_BYTES))
        except OverflowError:
            limit = MAX_BODY_BYTES if pending.stream else MAX_JSON_BODY_BYTES
            self._reject(
                413,
                "INVALID_PARAMETER_VALUE",
                f"The request body is larger than the limit of {limit} bytes for this API.",
            )
            return
        except ValueError:
            self._reject(400, "MALFORMED_REQUEST", "Invalid Content-Length or chunked encoding.")
            return
        except OSError:  # includes the idle timeout and a client gone mid-body: drop it
            self.close_connection = True
            return
        try:
            response = self.dispatcher.finish(pending, body, spool)
        finally:
            if spool is not None:
                with contextlib.suppress(OSError):
                    spool.unlink()
        self._send(response)

    def _spool(self, length: int | None) -> Path:
        """Stream an upload's body into a file under the dispatcher's spool directory."""
        directory = self.dispatcher.spool_dir
        directory.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=directory, prefix=".ld-spool-")
        path = Path(name)
        try:
            with os.fdopen(fd, "wb") as out:
                for piece in self._pieces(length, MAX_BODY_BYTES):
                    out.write(piece)
        except BaseException:
            with contextlib.suppress(OSError):
                path.unlink()
            raise
        return path

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
