"""A forwarding HTTP proxy on loopback, to test clients that sit behind a corporate proxy.

Clients reach it through ``HTTP_PROXY``/``HTTPS_PROXY`` (plain ``http://`` targets only, which is
what local Databricks serves); it forwards each request and counts what passed through.
"""

from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"}


class ForwardingProxy:
    """Use as ``with ForwardingProxy() as proxy``; set ``HTTP_PROXY=proxy.url``."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The proxy's address, for HTTP_PROXY / HTTPS_PROXY."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> ForwardingProxy:
        """Start serving in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> ForwardingProxy:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def _record(self, line: str) -> None:
        with self._lock:
            self.requests.append(line)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def _forward(self) -> None:
                target = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if target.scheme != "http" or not target.hostname:
                    self.send_error(501, "only absolute http:// URLs are forwarded")
                    return
                proxy._record(f"{self.command} {target.path}")
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
                path = target.path + (f"?{target.query}" if target.query else "")
                upstream.request(self.command, path, body=body, headers=headers)
                response = upstream.getresponse()
                payload = response.read()
                self.send_response(response.status, response.reason)
                for key, value in response.getheaders():
                    if key.lower() not in HOP_BY_HOP | {"content-length"}:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)
                upstream.close()

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _forward

        return Handler
