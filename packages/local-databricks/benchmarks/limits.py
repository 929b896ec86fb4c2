"""Memory bounds of local-databricks under hostile or heavy input, measured on a server process.

    python benchmarks/limits.py [--body-mib 1024] [--upload-mib 100]

prints one JSON line with two measurements:

- ``unauthenticated_body``: one connection announces (and starts sending) a `--body-mib` body
  with no credential; the server's resident memory growth (peak and after) and the seconds until
  the answer arrives.
- ``call_log``: `--upload-mib` of data through JSON APIs (half `workspace/import`, half
  `dbfs/create` + `add-block` + `close`, 1 MiB per request); the server's resident memory before
  and after, and the size of `GET /__local-databricks/calls`.

The server runs in a child process (its memory is not the client's), with its state in a temporary
directory; resident memory is read from /proc/<pid>/status (Linux).
"""

from __future__ import annotations

import argparse
import base64
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
MIB = 1024 * 1024
_CHILD = """
import json, sys
from local_databricks import LocalDatabricks
with LocalDatabricks() as server:
    print(json.dumps({"url": server.url, "token": server.token, "admin": server.admin_token}),
          flush=True)
    sys.stdin.read()
"""


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


class _Server:
    """A LocalDatabricks in a child process (the package importable from this checkout)."""

    def __enter__(self) -> _Server:
        env_path = [str(SRC), *sys.path]
        self.process = subprocess.Popen(
            [sys.executable, "-c", f"import sys; sys.path[:0] = {env_path!r}\n{_CHILD}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        info = json.loads(self.process.stdout.readline())
        self.url, self.token, self.admin = info["url"], info["token"], info["admin"]
        self.port = int(self.url.rsplit(":", 1)[1])
        return self

    def __exit__(self, *exc) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(30)

    def rss(self) -> float:
        return _rss_mib(self.process.pid)

    def post(self, path: str, body: dict, admin: bool = False) -> bytes:
        request = urllib.request.Request(
            self.url + path,
            data=json.dumps(body).encode(),
            method="POST",
            headers={
                "Authorization": f"Bearer {self.admin if admin else self.token}",
                "Content-Type": "application/json",
            },
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.read()

    def get(self, path: str, admin: bool = False) -> bytes:
        request = urllib.request.Request(
            self.url + path,
            headers={"Authorization": f"Bearer {self.admin if admin else self.token}"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.read()


def unauthenticated_body(body_mib: int) -> dict:
    """Announce a `body_mib` body with no credential and keep sending it."""
    with _Server() as server:
        before = server.rss()
        peak = [before]
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], server.rss())
                time.sleep(0.01)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=60)
        head = (
            f"POST /api/2.0/workspace/import HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {body_mib * MIB}\r\n\r\n"
        )
        sent = [0]

        def send() -> None:
            piece = b"0" * MIB
            try:
                sock.sendall(head.encode())
                for _ in range(body_mib):
                    sock.sendall(piece)
                    sent[0] += len(piece)
            except OSError:
                pass

        started = time.monotonic()
        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        answer = sock.recv(4096)
        answered = time.monotonic() - started
        sender.join(120)
        sock.close()
        time.sleep(0.5)
        stop.set()
        sampler.join()
        return {
            "body_mib": body_mib,
            "status_line": answer.split(b"\r\n", 1)[0].decode(errors="replace"),
            "answer_seconds": round(answered, 3),
            "sent_mib": round(sent[0] / MIB, 1),
            "rss_before_mib": round(before, 1),
            "rss_peak_growth_mib": round(peak[0] - before, 1),
            "rss_after_growth_mib": round(server.rss() - before, 1),
        }


def call_log(upload_mib: int) -> dict:
    """`upload_mib` MiB through workspace/import and DBFS add-block, 1 MiB per request."""
    with _Server() as server:
        server.post("/api/2.0/workspace/mkdirs", {"path": "/Shared/bench"})
        before = server.rss()
        block = base64.b64encode(b"x" * MIB).decode()
        imports = upload_mib // 2
        for index in range(imports):
            server.post(
                "/api/2.0/workspace/import",
                {
                    "path": f"/Shared/bench/file{index}.txt",
                    "format": "AUTO",
                    "content": block,
                    "overwrite": True,
                },
            )
        handle = json.loads(server.post("/api/2.0/dbfs/create", {"path": "/bench.bin"}))["handle"]
        for _ in range(upload_mib - imports):
            server.post("/api/2.0/dbfs/add-block", {"handle": handle, "data": block})
        server.post("/api/2.0/dbfs/close", {"handle": handle})
        after = server.rss()
        listed = server.get("/__local-databricks/calls", admin=True)
        return {
            "upload_mib": upload_mib,
            "rss_before_mib": round(before, 1),
            "rss_after_mib": round(after, 1),
            "rss_growth_mib": round(after - before, 1),
            "calls_response_mib": round(len(listed) / MIB, 2),
        }


def main(argv: list[str] | None = None) -> int:
    """Run both measurements and print them as one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--body-mib", type=int, default=1024)
    parser.add_argument("--upload-mib", type=int, default=100)
    args = parser.parse_args(argv)
    figures = {
        "unauthenticated_body": unauthenticated_body(args.body_mib),
        "call_log": call_log(args.upload_mib),
    }
    print(json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
