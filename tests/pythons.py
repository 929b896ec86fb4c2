"""Find installed interpreters for the generated projects (uv may not download any here)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from functools import cache
from pathlib import Path


def _works(candidate: str, version: str) -> bool:
    try:
        out = subprocess.run(
            [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and out.stdout.strip() == version


@cache
def find_python(version: str) -> str | None:
    """Return a working ``python<version>`` (PATH first, then pyenv's versions), or None."""
    candidates = [shutil.which(f"python{version}") or ""]
    pyenv_root = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    candidates += sorted(glob.glob(f"{pyenv_root}/versions/{version}.*/bin/python{version}"))
    candidates += sorted(glob.glob(f"/usr/bin/python{version}"))
    for candidate in filter(None, candidates):
        if _works(candidate, version):
            return candidate
    return None
