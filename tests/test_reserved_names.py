"""hooks/reserved_names.yml is not stale: it holds every module a fresh default render imports."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import pytest
import yaml
from pythons import find_python
from rendering import ROOT, project_env, render

# A real `uv sync` of a render. Marked so a quick run can deselect it.
pytestmark = pytest.mark.toolchain


def generator():
    """hooks/reserved_names.py, imported from its path (hooks/ is no package)."""
    spec = importlib.util.spec_from_file_location(
        "reserved_names", ROOT / "hooks" / "reserved_names.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_reserved_names_cover_a_synced_default_render(template_repo: Path, tmp_path: Path) -> None:
    python = find_python("3.12")
    if python is None:
        pytest.skip("Python 3.12 (the default python_version) is not installed here")
    project = render(template_repo, tmp_path / "p")
    subprocess.run(["uv", "sync", "--quiet"], cwd=project, env=project_env(python), check=True)
    names = generator().render_names(project)
    assert {"dagster", "local_databricks", "pytest", "requests"} <= names
    assert "sales_analytics" not in names, "the render's own package is not reserved"
    data = yaml.safe_load((ROOT / "hooks" / "reserved_names.yml").read_text())
    committed = set(data["reserved_packages"]["default"].split())
    committed |= set(data["stdlib_modules"]["default"].split())
    missing = sorted(names - committed)
    assert not missing, f"rerun hooks/reserved_names.py (see its docstring); missing {missing}"
