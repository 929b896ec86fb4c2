"""What a task or command process gets from the runtime: its own interpreter and credentials.

Every task process (and every execution context of the Command Execution API) runs on a Python
environment of its own under its work directory, as a Databricks notebook gets a notebook-scoped
environment on top of the cluster's libraries:

* ``<dir>/bin/python`` is a virtual environment of the configured interpreter's base Python whose
  ``site-packages`` come first, followed by the configured interpreter's own site directories
  (added by a ``.pth`` file, so editable installs keep working; the base Python's own
  ``site-packages`` only when the configured interpreter sees them). ``pip install``
  (``python -m pip`` or the ``pip`` wrappers in ``bin``) installs into the task's environment,
  never the host's.
* ``bin`` of that environment is first on ``PATH``, then the configured interpreter's ``bin``.
* Runtime authentication: ``DATABRICKS_RUNTIME_VERSION`` (from the cluster's ``spark_version``)
  selects the SDK's runtime auth, which the shim's ``dbruntime.sdk_credential_provider`` answers
  with the server's URL and the process's own credential (``LOCAL_DATABRICKS_API_TOKEN``), so
  ``WorkspaceClient()`` and ``dbutils`` need no configuration, as on a Databricks driver.
  ``DATABRICKS_CONFIG_FILE`` points into the work directory (no file there), so a
  ``~/.databrickscfg`` of the host is never read.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

# DATABRICKS_RUNTIME_VERSION of serverless compute (environment version 1) [assumption].
SERVERLESS_RUNTIME_VERSION = "client.1.0"

_PROBE = (
    "import json, site, sys, sysconfig\n"
    "dirs = list(site.getsitepackages())\n"
    "if site.ENABLE_USER_SITE:\n"
    "    dirs.append(site.getusersitepackages())\n"
    "print(json.dumps({'base': getattr(sys, '_base_executable', sys.executable),\n"
    "    'version': '%d.%d' % sys.version_info[:2], 'full': sys.version.split()[0],\n"
    "    'site': dirs, 'bin': sysconfig.get_path('scripts')}))\n"
)


@dataclass(frozen=True)
class Interpreter:
    """Facts about the configured interpreter that a task environment is built from."""

    base: str  # the base (non-venv) executable
    version: str  # "3.11"
    full_version: str  # "3.11.7"
    site_dirs: tuple[str, ...]  # site directories of the configured interpreter
    bin_dir: str  # its scripts directory


@functools.lru_cache(maxsize=8)
def probe(python: str) -> Interpreter:
    """Ask `python` once where its base executable and site directories are."""
    out = subprocess.run(
        [python, "-I", "-c", _PROBE], capture_output=True, text=True, timeout=60, check=True
    )
    facts = json.loads(out.stdout)
    return Interpreter(
        base=os.path.realpath(facts["base"]),
        version=facts["version"],
        full_version=facts["full"],
        site_dirs=tuple(d for d in facts["site"] if d),
        bin_dir=facts["bin"] or str(Path(python).parent),
    )


def make_environment(python: str, target: Path) -> Path:
    """A Python environment of its own at `target` on top of `python`'s packages; its python."""
    facts = probe(python)
    bin_dir = target / "bin"
    site_dir = target / "lib" / f"python{facts.version}" / "site-packages"
    bin_dir.mkdir(parents=True, exist_ok=True)
    site_dir.mkdir(parents=True, exist_ok=True)
    (target / "pyvenv.cfg").write_text(
        f"home = {os.path.dirname(facts.base)}\n"
        "include-system-site-packages = false\n"
        f"version = {facts.full_version}\n"
        f"executable = {facts.base}\n",
        encoding="utf-8",
    )
    for name in ("python", "python3", f"python{facts.version}"):
        link = bin_dir / name
        if not link.exists():
            link.symlink_to(facts.base)
    # Lines starting with "import" run at startup: addsitedir also reads those dirs' .pth files.
    lines = [f"import site; site.addsitedir({d!r})" for d in facts.site_dirs]
    (site_dir / "_local_databricks_cluster_libraries.pth").write_text(
        "\n".join(lines) + "\n", encoding="utf-8"
    )
    python_path = bin_dir / "python"
    for name in ("pip", "pip3", f"pip{facts.version}"):
        wrapper = bin_dir / name
        wrapper.write_text(f'#!/bin/sh\nexec "{python_path}" -m pip "$@"\n', encoding="utf-8")
        wrapper.chmod(0o755)
    return python_path


def runtime_version(spark_version: str | None) -> str:
    """DATABRICKS_RUNTIME_VERSION of a cluster: "16.4" for "16.4.x-scala2.12"."""
    if not spark_version:
        return SERVERLESS_RUNTIME_VERSION
    parts = spark_version.split(".")
    if len(parts) >= 2 and parts[0].isdigit() and parts[1].isdigit():
        return f"{parts[0]}.{parts[1]}"
    return spark_version


def runtime_env(python: str, environment: Path, spark_version: str | None) -> dict[str, str]:
    """The variables a process on `environment` (from make_environment) gets from the runtime."""
    facts = probe(python)
    path = [str(environment / "bin"), facts.bin_dir]
    inherited = os.environ.get("PATH", "")
    path += [p for p in inherited.split(os.pathsep) if p and p not in path]
    return {
        "PATH": os.pathsep.join(path),
        "VIRTUAL_ENV": str(environment),
        "DATABRICKS_RUNTIME_VERSION": runtime_version(spark_version),
        "DATABRICKS_CONFIG_FILE": str(environment / "databrickscfg-absent"),
    }


@dataclass
class TaskRuntime:
    """The interpreter and the runtime variables of one task or execution context."""

    python: str
    env: dict[str, str]


def task_runtime(python: str, workdir: Path, spark_version: str | None) -> TaskRuntime:
    """Build the environment of a process working in `workdir` on a cluster `spark_version`."""
    environment = workdir / "python-env"
    task_python = make_environment(python, environment)
    return TaskRuntime(str(task_python), runtime_env(python, environment, spark_version))
