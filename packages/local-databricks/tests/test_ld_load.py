"""A bounded load test: 50 concurrent clients x 20 requests, zero errors, no orphan processes."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

LOAD = Path(__file__).resolve().parents[1] / "benchmarks" / "load.py"


def _load_module():
    spec = importlib.util.spec_from_file_location("ld_benchmarks_load", LOAD)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _children(pid: int) -> set[tuple[int, str]]:
    """(pid, state) of every process whose parent is `pid`, from /proc (zombies included)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid:
            found.add((int(entry.name), fields[0]))
    return found


def test_fifty_clients_twenty_requests_each():
    before = _children(os.getpid())
    figures = _load_module().measure(clients=50, requests=20)
    assert figures["errors"] == 0, figures["error_samples"]
    assert figures["requests"] == 1000
    assert figures["by_kind"] == {"submit": 50, "get": 500, "upload": 450}
    assert figures["runs"] == 50
    assert figures["runs_succeeded"] == 50
    assert figures["requests_per_second"] > 0
    # the server is stopped: none of its task processes is left, not even as a zombie
    assert _children(os.getpid()) - before == set()


def test_load_script_prints_one_json_line():
    import json
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, str(LOAD), "--clients", "3", "--requests", "4"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    figures = json.loads(lines[0])
    assert {"requests", "seconds", "requests_per_second", "errors"} <= set(figures)
    assert figures["requests"] == 12 and figures["errors"] == 0
