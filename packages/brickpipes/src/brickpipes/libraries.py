"""Libraries a remote run adds: PyPI requirements or wheel paths, checked when definitions load
and turned into what each compute takes (cluster ``libraries``, serverless ``dependencies``).

An entry is either a requirement (``pandas>=2.2,<3``, checked with ``packaging``) or a wheel
(``*.whl``) under ``/Volumes/``, ``/Workspace/`` or ``dbfs:/``. A wrong entry is a
``ValueError`` whose message names it, says what is wrong and gives a valid example, in lines
that fit 80 columns (``dg check defs`` prints it).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement

__all__ = ["check_libraries", "cluster_libraries", "is_wheel"]

WHEEL_ROOTS = ("/Volumes/", "/Workspace/", "dbfs:/")
EXAMPLES = (
    "  e.g. 'pandas>=2.2,<3' (PyPI) or\n"
    "  '/Volumes/main/libs/wheels/mylib-1.0-py3-none-any.whl' (a wheel)"
)


def is_wheel(entry: str) -> bool:
    """True for a wheel path, false for a PyPI requirement."""
    return entry.lower().endswith(".whl") or entry.startswith(("/", "dbfs:", "./", "../"))


def check_library(entry: object) -> str:
    """``entry`` stripped, or a ValueError saying what is wrong with it."""
    if not isinstance(entry, str) or not entry.strip():
        raise ValueError(f"library {entry!r} is empty or not a string:\n{EXAMPLES}")
    entry = entry.strip()
    shown = entry if len(entry) <= 60 else entry[:57] + "..."
    if is_wheel(entry):
        name = entry.rsplit("/", 1)[-1]
        if not entry.startswith(WHEEL_ROOTS) or "/../" in entry:
            problem = "is not under /Volumes/, /Workspace/ or dbfs:/"
        elif not name.lower().endswith(".whl"):
            problem = "is a path but not a wheel (*.whl)"
        elif len(name[:-4].split("-")) not in (5, 6):
            problem = "is not a wheel file name (name-version-py-abi-platform.whl)"
        else:
            return entry
        raise ValueError(f"library '{shown}'\n  {problem}:\n{EXAMPLES}")
    try:
        Requirement(entry)
    except InvalidRequirement as error:
        reason = (str(error).splitlines() or ["invalid"])[0]
        reason = reason if len(reason) <= 70 else reason[:67] + "..."
        raise ValueError(
            f"library '{shown}' is not a PyPI requirement:\n  {reason}\n{EXAMPLES}"
        ) from None
    return entry


def check_libraries(entries: Iterable[object]) -> list[str]:
    """Every entry checked (see :func:`check_library`), duplicates dropped, order kept."""
    checked = [check_library(entry) for entry in entries]
    return list(dict.fromkeys(checked))


def cluster_libraries(requirements: Iterable[str]) -> list[dict[str, Any]]:
    """Task ``libraries`` of a job or all-purpose cluster: ``whl`` for wheels, else ``pypi``."""
    return [
        {"whl": entry} if is_wheel(entry) else {"pypi": {"package": entry}}
        for entry in requirements
    ]
