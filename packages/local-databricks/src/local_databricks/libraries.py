"""The libraries a task declares, installed into its own Python environment (runtime_env.py)
before its process starts, as a cluster installs its libraries before the task runs.

* Cluster tasks (``new_cluster``, ``existing_cluster_id``, ``job_cluster_key``): the task's
  ``libraries``: ``pypi`` (``package``, optional ``repo``: the index it comes from), ``whl`` and
  ``requirements`` (a file) on ``/Volumes/...``, ``/Workspace/...`` or ``dbfs:/...`` paths,
  read from the server's storage. ``jar``, ``maven``, ``cran`` and ``egg`` are not installed (no
  JVM, R or eggs for task processes): the task's stdout log says so first.
* Serverless tasks: ``spec.dependencies`` of the task's environment, pip requirement-file lines;
  a line that is a path (``/Volumes/...``, ``/Workspace/...``, ``dbfs:/...``, ``-r <path>``)
  is read from the server's storage.

A requirement the configured interpreter already satisfies (dagster-pipes in a Pipes run) is
skipped: one check per distinct list of requirements and interpreter, cached for the process,
so tasks that declare nothing new start no installer. The installer is ``uv pip install
--python <task python>`` when ``uv`` is on PATH (fast), else ``<task python> -m pip install``.
A failure ends the task in INTERNAL_ERROR with ``LIBRARY_INSTALLATION_ERROR`` and the
installer's error as the task's ``error``.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ApiError
from .paths import Storage

PIP_KINDS = ("pypi", "whl", "requirements")
NOT_INSTALLED_KINDS = ("jar", "maven", "cran", "egg")
INSTALL_TIMEOUT_SECONDS = 600
ERROR_TAIL_CHARS = 4000
_PATH_PREFIXES = ("/", "dbfs:")
_ERROR_START = re.compile("^\\s*(ERROR:|error:|\u00d7)")  # uv's errors start with a cross

# Which of a list of requirements the interpreter running it satisfies (null: cannot tell).
_SATISFIED_PROBE = """
import json, sys
from importlib import metadata
try:
    from packaging.requirements import Requirement
except ImportError:
    try:
        from pip._vendor.packaging.requirements import Requirement
    except ImportError:
        print("null")
        raise SystemExit
answers = []
for line in json.loads(sys.argv[1]):
    try:
        req = Requirement(line)
    except Exception:
        answers.append(False)
        continue
    if req.marker is not None and not req.marker.evaluate():
        answers.append(True)
        continue
    if req.url or req.extras:
        answers.append(False)
        continue
    try:
        installed = metadata.version(req.name)
    except metadata.PackageNotFoundError:
        answers.append(False)
        continue
    answers.append(req.specifier.contains(installed, prereleases=True))
print(json.dumps(answers))
"""


class LibraryInstallFailed(Exception):
    """Installing a task's libraries failed: ``message`` for the task's state, ``error`` and
    ``output`` (the installer's) for its runs/get-output."""

    def __init__(self, message: str, error: str, output: str = "") -> None:
        super().__init__(message)
        self.message, self.error, self.output = message, error, output


@dataclass
class Install:
    """One installer call: requirement-file lines from one index (``None``: the default)."""

    index_url: str | None = None
    lines: list[str] = field(default_factory=list)
    named: list[str] = field(default_factory=list)  # how the failure message names them
    paths: dict[str, str] = field(default_factory=dict)  # local file -> its remote path


@dataclass
class Declared:
    """What a task declares: the installer calls, and notes on what is not installed."""

    installs: list[Install] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def declared(storage: Storage, spec: dict, environments: list[dict]) -> Declared:
    """The libraries of task ``spec`` (its cluster ``libraries``, or its environment's
    ``dependencies`` when it runs serverless)."""
    result = Declared()
    key = spec.get("environment_key")
    if key:
        for env in environments:
            if env.get("environment_key") == key:
                dependencies = [str(d) for d in (env.get("spec") or {}).get("dependencies") or []]
                call = Install(None, named=[f"dependency {d}" for d in dependencies])
                call.lines = [_dependency_line(storage, d, call.paths) for d in dependencies]
                result.installs.append(call)
        return result
    by_index: dict[str | None, Install] = {}
    for library in spec.get("libraries") or []:
        kind = next((k for k in (*PIP_KINDS, *NOT_INSTALLED_KINDS) if library.get(k)), None)
        if kind in NOT_INSTALLED_KINDS:
            result.notes.append(
                f"local-databricks: library {kind} {json.dumps(library[kind])} is not installed "
                "(task processes have no JVM, R or egg support)."
            )
            continue
        if kind is None:
            continue
        value = library[kind]
        index = value.get("repo") if kind == "pypi" else None
        install = by_index.setdefault(index, Install(index))
        if kind == "pypi":
            install.lines.append(str(value.get("package")))
            install.named.append(f"pypi {{package: {json.dumps(value.get('package'))}}}")
        else:
            local = _local(storage, str(value), install.paths)
            install.lines.append(f"-r {local}" if kind == "requirements" else str(local))
            install.named.append(f"{kind}: {json.dumps(value)}")
    result.installs.extend(by_index.values())
    return result


def install(declared: Declared, python: str, task_python: str, stopped: Callable[[], bool]) -> None:
    """Install what is ``declared`` into the environment of ``task_python`` (built on the
    configured ``python``); raise :class:`LibraryInstallFailed` if the installer fails."""
    for call in declared.installs:
        requirements = tuple(line for line in call.lines if _is_requirement(line))
        if requirements:
            done = dict(zip(requirements, satisfied(python, requirements), strict=True))
            lines = [line for line in call.lines if not done.get(line, False)]
        else:
            lines = list(call.lines)
        if lines:
            _run_installer(call, lines, task_python, stopped)


@functools.lru_cache(maxsize=64)
def satisfied(python: str, requirements: tuple[str, ...]) -> tuple[bool, ...]:
    """Whether ``python`` already has each requirement (all False when it cannot tell)."""
    try:
        out = subprocess.run(
            [python, "-I", "-c", _SATISFIED_PROBE, json.dumps(list(requirements))],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        answers = json.loads(out.stdout)
    except (OSError, subprocess.SubprocessError, ValueError):
        answers = None
    if not isinstance(answers, list) or len(answers) != len(requirements):
        return (False,) * len(requirements)
    return tuple(bool(answer) for answer in answers)


def installer(task_python: str) -> list[str]:
    """The command that installs into ``task_python``'s environment: uv if on PATH, else pip."""
    uv = shutil.which("uv")
    if uv:
        return [uv, "pip", "install", "--python", task_python]
    return [task_python, "-m", "pip", "install", "--disable-pip-version-check", "--no-input"]


def _run_installer(
    call: Install, lines: list[str], task_python: str, stopped: Callable[[], bool]
) -> None:
    workdir = Path(task_python).parent.parent
    requirements = workdir / f"requirements-{len(list(workdir.glob('requirements-*')))}.txt"
    requirements.write_text("\n".join(lines) + "\n", encoding="utf-8")
    argv = [*installer(task_python), "-r", str(requirements)]
    if call.index_url:
        argv += ["--index-url", call.index_url]
    log = workdir / f"{requirements.stem}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, "VIRTUAL_ENV": str(workdir)}, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + INSTALL_TIMEOUT_SECONDS
        while process.poll() is None:
            if stopped() or time.monotonic() > deadline:
                process.kill()
                process.wait()
                break
            time.sleep(0.05)
    if process.returncode == 0 or stopped():
        return
    output = log.read_text(encoding="utf-8", errors="replace")
    for local, remote in call.paths.items():  # the error names remote paths, not the server's
        output = output.replace(f"file://{local}", remote).replace(local, remote)
    error = _error_text(output) or f"The installer exited with code {process.returncode}."
    named = ", ".join(call.named)
    # [assumption] The wording of the service's state message for a failed installation.
    message = (
        f"Library installation failed for library due to user error for {named}. "
        f"Error messages:\n{error}"
    )
    raise LibraryInstallFailed(message, error, output)


def _error_text(output: str) -> str:
    """The installer's error: from its first error line on (pip's ``ERROR:``, uv's
    ``error:`` or a cross), else its last line."""
    lines = output.strip().splitlines()
    for index, line in enumerate(lines):
        if _ERROR_START.match(line):
            return "\n".join(lines[index:])[-ERROR_TAIL_CHARS:]
    return lines[-1] if lines else ""


def _is_requirement(line: str) -> bool:
    """A plain requirement specifier (not an option, path or URL), which may already be
    satisfied."""
    return not line.startswith(("-", "/", ".")) and "://" not in line and " @ " not in line


def _dependency_line(storage: Storage, line: str, paths: dict[str, str]) -> str:
    """A serverless ``dependencies`` line with a workspace, volume or DBFS path mapped."""
    stripped = line.strip()
    for option in ("-r ", "--requirement ", "-e ", "--editable "):
        if stripped.startswith(option):
            rest = stripped[len(option) :].strip()
            if rest.startswith(_PATH_PREFIXES):
                return f"{option}{_local(storage, rest, paths)}"
            return line
    return str(_local(storage, stripped, paths)) if stripped.startswith(_PATH_PREFIXES) else line


def _local(storage: Storage, path: str, paths: dict[str, str]) -> Path:
    """The server's file of a library path (``/Volumes``, ``/Workspace``, ``dbfs:/``), noted
    in ``paths``."""
    if not path.startswith(_PATH_PREFIXES) or path.startswith("//"):
        raise LibraryInstallFailed(
            f"Library installation failed for library due to user error for {path}. Error "
            f"messages:\nlocal-databricks reads libraries from /Volumes, /Workspace and dbfs:/ "
            f"paths only, not {path}.",
            f"Unsupported library path {path}.",
        )
    try:
        local = storage.task_file(path)
    except ApiError as exc:
        raise LibraryInstallFailed(exc.message, exc.message) from exc
    if not local.is_file():
        message = f"Library installation failed for library due to user error for {path}. "
        error = f"File {path} does not exist."
        raise LibraryInstallFailed(message + f"Error messages:\n{error}", error)
    paths[str(local)] = path
    return local
