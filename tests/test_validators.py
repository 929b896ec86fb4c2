"""Each validator rejects its bad inputs with a message saying what is valid, leaving no files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from rendering import ROOT, render

BAD_ANSWERS = [
    ({"project_name": ""}, "project_name must start with a letter"),
    ({"project_name": "1st project"}, "project_name must start with a letter"),
    ({"project_name": "x" * 81}, "at most 80"),
    ({"project_name": "sales/analytics"}, "project_name must start with a letter"),
    ({"project_slug": "Sales"}, "project_slug must be lowercase"),
    ({"project_slug": "sales--analytics"}, "joined by single hyphens"),
    ({"project_slug": "sales_analytics"}, "project_slug must be lowercase"),
    ({"package_name": "1sales"}, "package_name must be a lowercase Python identifier"),
    ({"package_name": "Sales"}, "package_name must be a lowercase Python identifier"),
    ({"package_name": "sales-analytics"}, "package_name must be a lowercase Python identifier"),
    ({"package_name": "class"}, "is a Python keyword"),
    ({"package_name": "match"}, "is a Python keyword"),
    ({"package_name": "dagster"}, "would shadow the 'dagster' package"),
    ({"package_name": "dagster_pipes"}, "would shadow the 'dagster_pipes' package"),
    ({"package_name": "databricks"}, "would shadow the 'databricks' package"),
    ({"package_name": "pyspark"}, "would shadow the 'pyspark' package"),
    ({"package_name": "tests"}, "would shadow the 'tests' package"),
    ({"package_name": "test"}, "would shadow the 'test' package"),
    ({"package_name": "json"}, "would shadow the standard-library module"),
    ({"package_name": "tomllib"}, "would shadow the standard-library module"),
    ({"description": "two\nlines"}, "description must be a single line"),
    ({"description": ""}, "description must be a single line"),
    ({"author_name": "Ann <ann@example.com>"}, "author_name must be a single line"),
    ({"author_email": "not-an-email"}, "author_email must be an address"),
    ({"author_email": "ann@localhost"}, "author_email must be an address"),
    ({"databricks_host": "http://dbc-1.cloud.databricks.com"}, "must be an https:// URL"),
    ({"databricks_host": "dbc-1.cloud.databricks.com"}, "must be an https:// URL"),
    ({"databricks_host": "https://dbc-1.cloud.databricks.com/login"}, "no path"),
    ({"databricks_host": "https://dbc-1.cloud.databricks.com/?o=123"}, "no path"),
    ({"databricks_host": "https://me:dapi123@dbc-1.cloud.databricks.com"}, "credentials"),
    ({"auth_method": "azure-client-secret", "cloud": "aws"}, "needs cloud 'azure'"),
    ({"catalog": "Main"}, "catalog must be a lowercase Unity Catalog name"),
    ({"catalog": "1st"}, "catalog must be a lowercase Unity Catalog name"),
    ({"schema": "sales-data"}, "schema must be a lowercase Unity Catalog name"),
    ({"pipes_volume": "/Volumes/main/sales"}, "/Volumes/<catalog>/<schema>/<volume>"),
    ({"pipes_volume": "/dbfs/tmp/pipes"}, "/Volumes/<catalog>/<schema>/<volume>"),
    ({"pipes_volume": "/Volumes/main/sales/pipes/"}, "no trailing slash"),
    ({"pipes_volume": "/Volumes/Main/sales/pipes"}, "lowercase names"),
    ({"python_version": "3.9"}, "Invalid choice for 'python_version'"),
    ({"compute": "gpu"}, "Invalid choice for 'compute'"),
    ({"cloud": "oracle"}, "Invalid choice for 'cloud'"),
]


@pytest.mark.parametrize(("data", "message"), BAD_ANSWERS, ids=lambda v: str(v)[:40])
def test_bad_answer_is_rejected_and_nothing_is_written(
    template_repo: Path, tmp_path: Path, data: dict, message: str
) -> None:
    dst = tmp_path / "project"
    with pytest.raises(ValueError, match=r"Validation error|Invalid choice") as error:
        render(template_repo, dst, data)
    assert message in str(error.value)
    assert not dst.exists() or not any(dst.iterdir())


def test_cli_rejection_leaves_no_folder(template_repo: Path, tmp_path: Path) -> None:
    dst = tmp_path / "project"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "copier",
            "copy",
            "--skip-tasks",
            "--defaults",
            "--quiet",
            "--data",
            "project_name=Sales",
            "--data",
            "package_name=json",
            str(template_repo),
            str(dst),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "would shadow the standard-library module" in result.stderr
    assert not dst.exists()


def test_valid_edge_answers_render(template_repo: Path, tmp_path: Path) -> None:
    project = render(
        template_repo,
        tmp_path / "project",
        {
            "project_name": "A",
            "package_name": "a1_pipelines",
            "databricks_host": "https://adb-1234.5.azuredatabricks.net:443/",
            "description": 'Says "hello" \\ back',
        },
    )
    assert (project / "src" / "a1_pipelines" / "definitions.py").is_file()


def test_reserved_names_cover_the_installed_interpreters() -> None:
    data = yaml.safe_load((ROOT / "hooks" / "reserved_names.yml").read_text())
    code = "import json, sys; print(json.dumps(sorted(sys.stdlib_module_names)))"
    names = json.loads(subprocess.check_output([sys.executable, "-c", code]))
    missing = {n for n in names if not n.startswith("_")} - set(
        data["stdlib_modules"]["default"].split()
    )
    assert not missing, f"rerun hooks/reserved_names.py: {sorted(missing)}"
