"""HTTP/1.1 keep-alive server on 127.0.0.1 and request dispatch (faults, auth, routing, log)."""

from __future__ import annotations

import json
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from .auth import AuthStore
from .calls import CallLog
from .errors import ApiError
from .faults import FaultStore
from .routing import Request, Response, Router
from .util import WORKSPACE_ID

ADMIN_PREFIX = "/__local-databricks/"


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
    ) -> None:
        self.router = router
        self.admin_router = admin_router
        self.auth = auth
        self.faults = faults
        self.calls = calls
        self.verbose = verbose
        self.host = ""

    def dispatch(self, method: str, target: str, headers, body: bytes) -> Response:
        """Answer one request (the body has already been read in full)."""
        split = urlsplit(target)
        path = split.path or "/"
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        req = Request(method, path, query, headers, body, self.host)
        if path.startswith(ADMIN_PREFIX):
            return self._route(self.admin_router, req, authenticate=False)
        started = time.monotonic()
        response = self._answer(req)
        self._log(req, response, started)
        return response

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
            except ValueError:
                record["body_bytes"] = len(req.body)
        elif req.body:
            record["body_bytes"] = len(req.body)
        self.calls.add(record)
        if self.verbose:
            print(f"{req.method} {req.path} -> {response.status}", file=sys.stderr, flush=True)


def _error_response(exc: ApiError) -> Response:
    return Response(exc.status, exc.body(), dict(exc.headers))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "local-databricks/0.1.0"
    dispatcher: Dispatcher  # set on the subclass built by HttpServer

    def log_message(self, format, *args) -> None:
        return None

    def _read_body(self) -> bytes:
        # Always drain the body, even for errors: leftovers would corrupt the next keep-alive
        # request on this connection.
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                line = self.rfile.readline()
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _handle(self) -> None:
        try:
            body = self._read_body()
        except (ValueError, OSError):
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


class HttpServer:
    """A ThreadingHTTPServer bound to 127.0.0.1 serving a Dispatcher in a daemon thread."""

    def __init__(self, dispatcher: Dispatcher, port: int = 0) -> None:
        handler = type("LocalDatabricksHandler", (_Handler,), {"dispatcher": dispatcher})
        self._server = ThreadingHTTPServer(("127.0.0.1", port), handler)
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
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
