"""One local Spark per server that task processes share (`spark_mode="shared"`).

A JVM start costs seconds, and its first job more while the JVM warms up; a Databricks cluster is
warm when a task starts. In shared mode the server starts one local Spark the first time a task
asks for it (`POST /api/2.0/local-databricks/spark-gateway`, the task's own token), in a helper
process (shim/spark_gateway.py) whose py4j gateway each task's `SparkSession.builder
.getOrCreate()` attaches to, with a session of its own (`newSession()`: own SQL conf and temporary
views; tables are shared, as in a workspace's catalog). The helper and its JVM stop with the server.

A test session shares one across its servers (`SharedSpark.standalone`, the pytest plugin's
``local_databricks_spark``): a server given one does not stop it but has its tables dropped
(`reset`) when it stops, so each test starts with an empty catalog and a warm JVM. Other
processes of the session (pytest-xdist workers) use it through `AttachedSpark`: the owner
publishes the gateway and the helper's control port in a state file (`publish`). Every reset,
the owner's too, goes through that control port.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from .errors import ApiError
from .executor import install_shim, task_env
from .paths import Storage

START_TIMEOUT_SECONDS = 180.0
RESET_TIMEOUT_SECONDS = 60.0


def ask_reset(port: int, secret: str) -> str:
    """Send the helper's control port "<secret> reset"; return its answer ("reset" when done)."""
    with socket.create_connection(("127.0.0.1", port), timeout=RESET_TIMEOUT_SECONDS) as conn:
        conn.sendall(f"{secret} reset\n".encode())
        return conn.makefile("rb").readline().decode(errors="replace").strip()


class SharedSpark:
    """The helper process that owns the shared local Spark (started lazily, once)."""

    def __init__(
        self, python: str, helper: Path, workdir: Path, env: Callable[[], dict[str, str]]
    ) -> None:
        self.python = python
        self.helper = helper
        self.workdir = workdir
        self._env = env
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._gateway: dict[str, object] | None = None
        self._control: tuple[int, str] | None = None
        self._error: str | None = None

    @classmethod
    def for_storage(
        cls, storage: Storage, python: str, require_volumes: bool = False
    ) -> SharedSpark:
        """One whose helper runs from ``storage``'s shim, under ``<root>/spark/shared``, with a
        task's environment (computed when it starts) without a cluster."""
        workdir = storage.spark / "shared"
        # "own": the helper's getOrCreate starts the JVM itself instead of attaching to one
        extra = {"LOCAL_DATABRICKS_SPARK_MODE": "own"}
        if require_volumes:
            extra["LOCAL_DATABRICKS_REQUIRE_VOLUMES"] = "1"
        helper = storage.shim / "spark_gateway.py"
        return cls(python, helper, workdir, lambda: task_env(storage, {}, {}, workdir, extra))

    @classmethod
    def standalone(cls, root: Path, python: str | None = None) -> SharedSpark:
        """One that no server owns, under ``root``: servers given it (``shared_spark=``) share
        its JVM and leave it running; whoever made it calls :meth:`stop`."""
        import sys

        storage = Storage(Path(root))
        storage.create()
        install_shim(storage)
        return cls.for_storage(storage, python or sys.executable)

    @property
    def started(self) -> bool:
        """Whether its JVM is running."""
        with self._lock:
            return self._gateway is not None and self._alive()

    def ensure(self) -> dict[str, object]:
        """Start the helper if needed and return its gateway {port, secret}."""
        with self._lock:
            if self._gateway is not None and self._alive():
                return dict(self._gateway)
            self._stop_locked()
            self._gateway, self._error = self._start_locked()
            if self._gateway is None:
                raise ApiError(
                    400,
                    "INVALID_STATE",
                    f"local-databricks could not start the shared local Spark: {self._error}",
                )
            return dict(self._gateway)

    def _alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _start_locked(self) -> tuple[dict[str, object] | None, str | None]:
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = self.workdir / "gateway.log"
        with log.open("wb") as err:
            process = subprocess.Popen(
                [self.python, str(self.helper)],
                cwd=self.workdir,
                env=self._env(),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                start_new_session=True,
            )
        self._process = process
        line = self._read_line(START_TIMEOUT_SECONDS).split()
        if len(line) != 4 or not (line[0].isdigit() and line[2].isdigit()):
            self._stop_locked()
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            return None, f"the helper gave no gateway (see {log}):\n{tail}"
        self._control = (int(line[2]), line[3])
        return {"port": int(line[0]), "secret": line[1]}, None

    def publish(self, state_file: Path) -> None:
        """Start (if needed) and write what an `AttachedSpark` needs to ``state_file``, or the
        error that kept it from starting; written whole (renamed into place)."""
        try:
            gateway = self.ensure()
            with self._lock:
                assert self._control is not None
                state: dict[str, object] = {"gateway": gateway, "control": list(self._control)}
        except ApiError as exc:
            state = {"error": exc.message}
        partial = state_file.with_suffix(".partial")
        partial.write_text(json.dumps(state))
        partial.replace(state_file)

    def reset(self) -> None:
        """Drop every table and database but ``default`` (nothing to do if it never started).

        A helper that does not confirm within ``RESET_TIMEOUT_SECONDS`` is stopped instead.
        """
        with self._lock:
            if self._control is None or not self._alive():
                return
            try:
                answer = ask_reset(*self._control)
            except OSError:
                answer = ""
            if answer != "reset":
                self._stop_locked()

    def _read_line(self, timeout: float) -> str:
        assert self._process is not None and self._process.stdout is not None
        stdout = self._process.stdout
        found: list[bytes] = []
        reader = threading.Thread(target=lambda: found.append(stdout.readline()))
        reader.daemon = True
        reader.start()
        reader.join(timeout)
        return found[0].decode(errors="replace") if found else ""

    def stop(self) -> None:
        """Stop the helper and its JVM (closing its stdin ends both)."""
        with self._lock:
            self._stop_locked()

    def _stop_locked(self) -> None:
        process, self._process, self._gateway, self._control = self._process, None, None, None
        if process is None:
            return
        with contextlib.suppress(OSError):
            if process.stdin is not None:
                process.stdin.close()
        deadline = time.monotonic() + 10
        while process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        # the JVM is in the helper's session: take down whatever is left of it
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(5)
        if process.stdout is not None:
            process.stdout.close()


class AttachedSpark:
    """A `SharedSpark` of another process of the test session, through its state file.

    The same interface for a server (``shared_spark=``) and the fixtures; `stop` is the
    owner's, so here it does nothing.
    """

    def __init__(self, state_file: Path) -> None:
        self.state_file = Path(state_file)

    def _state(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while not self.state_file.exists():
            if time.monotonic() > deadline:
                raise ApiError(
                    400,
                    "INVALID_STATE",
                    f"the test session's local Spark did not start within {timeout:.0f} s "
                    f"({self.state_file} was never written)",
                )
            time.sleep(0.1)
        return json.loads(self.state_file.read_text())

    @property
    def started(self) -> bool:
        """Whether the owner has published a running Spark."""
        return self.state_file.exists() and "gateway" in self._state(0)

    def ensure(self) -> dict[str, object]:
        """The gateway {port, secret}, once the owner has published it."""
        state = self._state(START_TIMEOUT_SECONDS)
        if "error" in state:
            raise ApiError(400, "INVALID_STATE", str(state["error"]))
        return dict(state["gateway"])

    def reset(self) -> None:
        """Ask the helper to drop every table and database but ``default``."""
        if not self.state_file.exists():
            return
        state = self._state(0)
        if "control" not in state:
            return
        answer = ask_reset(*state["control"])
        if answer != "reset":
            raise RuntimeError(f"the test session's local Spark did not reset ({answer!r})")

    def stop(self) -> None:
        """Nothing: the owning process stops it."""
