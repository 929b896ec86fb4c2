"""Task processes: command line, environment, start in a new session, kill the process tree."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from .paths import Storage

LOG_TAIL_BYTES = 5 * 1024 * 1024
KILL_GRACE_SECONDS = 2.0
SHIM_SOURCE = Path(__file__).parent / "shim"


def install_shim(storage: Storage) -> Path:
    """Copy the child-process shim (sitecustomize, runners, stubs) under the root."""
    if storage.shim.exists():
        shutil.rmtree(storage.shim, ignore_errors=True)
    shutil.copytree(
        SHIM_SOURCE, storage.shim, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    return storage.shim


def task_env(
    storage: Storage,
    spark_env_vars: dict[str, str],
    spark_conf: dict[str, str],
    spark_dir: Path,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """The environment of a task process (see README: what children inherit)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATABRICKS_")}
    # PYSPARK_GATEWAY_*: a Spark this process attached to (the local_spark fixture) is not the
    # task's; a task finds its Spark through the server.
    prefixes = ("LOCAL_DATABRICKS_", "DAGSTER_PIPES_", "PYSPARK_GATEWAY_")
    for key in [k for k in env if k.startswith(prefixes)]:
        del env[key]
    env.update({str(k): str(v) for k, v in spark_env_vars.items()})
    python_path = [str(storage.shim)]
    if env.get("PYTHONPATH"):
        python_path.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(python_path)
    env["PYTHONUNBUFFERED"] = "1"
    env["LOCAL_DATABRICKS_FS_MAP"] = json.dumps(
        {
            "/dbfs": str(storage.dbfs),
            "/Volumes": str(storage.volumes),
            "/Workspace": str(storage.workspace),
        }
    )
    env["LOCAL_DATABRICKS_SPARK_CONF"] = json.dumps(spark_conf)
    env["LOCAL_DATABRICKS_SPARK_DIR"] = str(spark_dir)
    env.update(extra or {})
    return env


@dataclass
class TaskProcess:
    """A running task process whose stdout/stderr go to files."""

    popen: subprocess.Popen
    stdout_path: Path
    stderr_path: Path

    @property
    def pid(self) -> int:
        """The process id (also its process group id)."""
        return self.popen.pid

    def poll(self) -> int | None:
        """The exit code, or None while running."""
        return self.popen.poll()

    def wait(self, timeout: float) -> int | None:
        """Wait up to `timeout` seconds; the exit code or None."""
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill_tree(self, grace: float = KILL_GRACE_SECONDS) -> None:
        """SIGTERM the whole process group, then SIGKILL whatever is left after `grace`."""
        self._signal_group(signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if self.popen.poll() is not None and not self._group_alive():
                return
            time.sleep(0.05)
        self._signal_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(5)

    def _signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, sig)

    def _group_alive(self) -> bool:
        try:
            os.killpg(self.popen.pid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True


def start_process(argv: list[str], env: dict[str, str], cwd: Path, logs: Path) -> TaskProcess:
    """Start `argv` in its own session (so cancel can kill the whole tree)."""
    cwd.mkdir(parents=True, exist_ok=True)
    logs.mkdir(parents=True, exist_ok=True)
    stdout_path, stderr_path = logs / "stdout", logs / "stderr"
    # stdout is appended to: it may start with the runtime's notes (libraries not installed).
    with stdout_path.open("ab") as out, stderr_path.open("wb") as err:
        popen = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
    return TaskProcess(popen, stdout_path, stderr_path)


def read_tail(path: Path, limit: int = LOG_TAIL_BYTES) -> tuple[str, bool]:
    """The last `limit` bytes of a file as text, and whether it was truncated."""
    if not path.exists():
        return "", False
    size = path.stat().st_size
    with path.open("rb") as handle:
        if size > limit:
            handle.seek(size - limit)
        data = handle.read()
    return data.decode("utf-8", errors="replace"), size > limit


_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt|Warning)?\b.*")


def last_error_line(stderr: str) -> str:
    """The exception line of the last traceback in stderr (else its last non-empty line)."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    if not lines:
        return ""
    if "Traceback (most recent call last):" in stderr:
        tail = stderr.rsplit("Traceback (most recent call last):", 1)[1].splitlines()
        candidates = [line for line in tail if line and not line[0].isspace()]
        for line in reversed(candidates):
            if _EXCEPTION_LINE.match(line):
                return line.strip()
    return lines[-1].strip()


def copy_if_changed(source: Path, target: Path, seen: dict[Path, int]) -> None:
    """Copy `source` to `target` when its size changed since the last copy (log delivery)."""
    try:
        size = source.stat().st_size
    except OSError:
        return
    if seen.get(source) == size and target.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".ld-tmp-{target.name}")
    shutil.copyfile(source, tmp)
    os.replace(tmp, target)
    seen[source] = size
