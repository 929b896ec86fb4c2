"""A bounded load test of local-databricks on loopback: concurrent clients mixing runs/submit,
runs/get and Files API uploads.

    python benchmarks/load.py [--clients 50] [--requests 20]

prints one JSON line: {"requests", "seconds", "requests_per_second", "errors", ...}. Import it and
call `measure()` to get the same dict. Every client is a keep-alive `http.client` connection; the
server is started and stopped here, with its state in a temporary directory.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

try:
    from local_databricks import LocalDatabricks
except ImportError:  # running from a checkout without the package installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from local_databricks import LocalDatabricks

MAX_CLIENTS = 200
MAX_REQUESTS = 200
UPLOAD_BYTES = 1024
VOLUME = "/Volumes/main/load/files"
SCRIPT = "dbfs:/load/trivial.py"


def _submit_body(client: int) -> bytes:
    return json.dumps(
        {
            "run_name": f"load-{client}",
            "tasks": [
                {
                    "task_key": "trivial",
                    "environment_key": "default",
                    "spark_python_task": {"python_file": SCRIPT},
                }
            ],
            "environments": [{"environment_key": "default", "spec": {"client": "1"}}],
        }
    ).encode()


def _client(
    port: int,
    token: str,
    index: int,
    count: int,
    barrier: threading.Barrier,
    deadline: float,
    results: dict[str, Any],
    lock: threading.Lock,
) -> None:
    """One client: request 0 submits a run, odd requests poll it, even ones upload a file."""
    headers = {"Authorization": f"Bearer {token}", "Host": f"127.0.0.1:{port}"}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    errors: list[str] = []
    kinds = {"submit": 0, "get": 0, "upload": 0}
    run_id = None
    payload = bytes(range(256)) * (UPLOAD_BYTES // 256)
    with contextlib.suppress(threading.BrokenBarrierError):
        barrier.wait(30)
    for number in range(count):
        if time.monotonic() > deadline:
            errors.append("deadline")
            break
        if number == 0 or run_id is None:
            kind, method, path = "submit", "POST", "/api/2.2/jobs/runs/submit"
            body: bytes | None = _submit_body(index)
            extra = {"Content-Type": "application/json"}
        elif number % 2:
            kind, method, path = "get", "GET", f"/api/2.2/jobs/runs/get?run_id={run_id}"
            body, extra = None, {}
        else:
            kind, method = "upload", "PUT"
            path = f"/api/2.0/fs/files{VOLUME}/c{index}/r{number}.bin?overwrite=true"
            body, extra = payload, {"Content-Type": "application/octet-stream"}
        kinds[kind] += 1
        try:
            connection.request(method, path, body=body, headers={**headers, **extra})
            response = connection.getresponse()
            data = response.read()
            if response.status not in (200, 204):
                errors.append(f"{kind} {response.status}: {data[:200]!r}")
            elif kind == "submit":
                run_id = json.loads(data)["run_id"]
        except (OSError, http.client.HTTPException, ValueError) as exc:
            errors.append(f"{kind} {exc!r}")
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.close()
    with lock:
        results["errors"].extend(errors)
        results["run_ids"].extend([run_id] if run_id is not None else [])
        for kind, value in kinds.items():
            results["by_kind"][kind] += value


def measure(clients: int = 50, requests: int = 20, timeout_seconds: float = 120.0) -> dict:
    """Run `clients` concurrent clients x `requests` requests; return the figures.

    The result has `requests`, `seconds` (wall time of the request phase),
    `requests_per_second`, `errors` (count), `error_samples`, `by_kind`, `runs` (runs submitted)
    and `runs_succeeded` (runs that ended SUCCESS once all were awaited, within the timeout).
    """
    if not 1 <= clients <= MAX_CLIENTS or not 1 <= requests <= MAX_REQUESTS:
        raise ValueError(f"clients must be 1..{MAX_CLIENTS} and requests 1..{MAX_REQUESTS}.")
    results: dict[str, Any] = {
        "errors": [],
        "run_ids": [],
        "by_kind": {"submit": 0, "get": 0, "upload": 0},
    }
    lock = threading.Lock()
    with LocalDatabricks(volumes=[VOLUME]) as ld:
        script = ld.root / "dbfs" / "load" / "trivial.py"
        script.parent.mkdir(parents=True, exist_ok=True)
        script.write_text("pass\n")
        port = int(ld.url.rsplit(":", 1)[1])
        barrier = threading.Barrier(clients)
        deadline = time.monotonic() + timeout_seconds
        threads = [
            threading.Thread(
                target=_client,
                args=(port, ld.token, i, requests, barrier, deadline, results, lock),
                name=f"load-client-{i}",
                daemon=True,
            )
            for i in range(clients)
        ]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(max(0.1, deadline - time.monotonic()))
        seconds = time.monotonic() - started
        if any(thread.is_alive() for thread in threads):
            results["errors"].append("clients still running at the deadline")
        succeeded = 0
        for run_id in results["run_ids"]:
            while time.monotonic() < deadline:
                run = ld.get_run(run_id)
                if run["state"]["life_cycle_state"] in ("TERMINATED", "INTERNAL_ERROR", "SKIPPED"):
                    succeeded += run["state"].get("result_state") == "SUCCESS"
                    break
                time.sleep(0.05)
    total = sum(results["by_kind"].values())
    return {
        "clients": clients,
        "requests_per_client": requests,
        "requests": total,
        "seconds": round(seconds, 3),
        "requests_per_second": round(total / seconds, 1) if seconds > 0 else 0.0,
        "errors": len(results["errors"]),
        "error_samples": results["errors"][:5],
        "by_kind": results["by_kind"],
        "runs": len(results["run_ids"]),
        "runs_succeeded": succeeded,
    }


def main(argv: list[str] | None = None) -> int:
    """Print one JSON line with the figures; exit 1 when any request failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--timeout-seconds", type=float, default=120.0)
    args = parser.parse_args(argv)
    figures = measure(args.clients, args.requests, args.timeout_seconds)
    print(json.dumps(figures), flush=True)
    return 1 if figures["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
