"""HTTP/1.1 keep-alive server on 127.0.0.1: connections, body framing (lengths, chunks, spooling
uploads to disk) and responses; what to answer is the Dispatcher's (dispatch.py)."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from .dispatch import Dispatcher
from .routing import Response
from .util import WORKSPACE_ID

# Enough for a CI burst of parallel clients connecting at once (the stdlib default is 5).
LISTEN_BACKLOG = 256
DEFAULT_IDLE_TIMEOUT_SECONDS = 30.0
# Request bodies held in memory (JSON, forms) are capped; uploads (`stream` routes) go to disk,
# up to MAX_BODY_BYTES. 16 MiB holds the largest JSON the APIs take: a 10 MB workspace import,
# base64-encoded.
MAX_JSON_BODY_BYTES = 16 * 1024 * 1024
MAX_BODY_BYTES = 2 * 1024 * 1024 * 1024
# An upload route's body goes to a spool file when it is chunked or larger than this; a smaller
# one is read into memory (cheaper for the many small uploads of a test suite).
SPOOL_OVER_BYTES = 1024 * 1024
# Chunked framing: a chunk-size (or trailer) line and the number of trailer lines are bounded.
MAX_CHUNK_LINE = 1024
MAX_TRAILER_LINES = 64
READ_PIECE = 64 * 1024
# How long a refused request's unread body is discarded after the answer, before closing.
LINGER_SECONDS = 2.0


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
            if pending.stream and (length is None or length > SPOOL_OVER_BYTES):
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
