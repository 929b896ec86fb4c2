"""Each validator rejects its bad inputs with a message saying what is valid, leaving no files.

A message's first line is what the interactive prompt shows (one line, cut at the terminal's
width): it says what is wrong and gives one valid example in at most 72 columns.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
import unicodedata
from pathlib import Path
from typing import Any

import pytest
import yaml
from rendering import ROOT, render

FIRST_LINE_COLUMNS = 72
TITLE = "e.g. Sales Analytics"
SLUG = "must be lowercase words joined by single hyphens, e.g. sales-analytics"
PACKAGE = "must be a lowercase Python identifier, e.g. sales_analytics"
DESCRIPTION = "e.g. Daily sales tables"
AUTHOR = "e.g. Data Platform Team"
HOST = "e.g. https://dbc-1a2b.cloud.databricks.com"
CATALOG = "must be a lowercase Unity Catalog name, e.g."
VOLUME = "must be a volume path, e.g. /Volumes/main/sales/dagster_pipes"


def imported(name: str) -> str:
    return f"'{name}' shadows an imported module, e.g. sales_data"


# Each bad answer and the first line of the message it gets (after Copier's prefix).
BAD_ANSWERS: list[tuple[dict[str, Any], str]] = [
    ({"project_name": ""}, f"must start with a letter, {TITLE}"),
    ({"project_name": "1st project"}, f"must start with a letter, {TITLE}"),
    ({"project_name": "_Sales"}, f"must start with a letter, {TITLE}"),
    ({"project_name": "x" * 81}, f"must be at most 80 characters, {TITLE}"),
    ({"project_name": "sales/analytics"}, f'cannot hold "/", {TITLE}'),
    ({"project_name": 'Say "hi"'}, f'cannot hold "\\"", {TITLE}'),
    ({"project_name": "Sales\nAnalytics"}, f"must be one line without control characters, {TITLE}"),
    (
        {"project_name": "Sales\u2028Analytics"},
        f"must be one line without control characters, {TITLE}",
    ),
    ({"project_name": "Данные"}, "must not be empty, e.g. sales-analytics"),
    ({"project_slug": "Sales"}, SLUG),
    ({"project_slug": "sales--analytics"}, SLUG),
    ({"project_slug": "sales_analytics"}, SLUG),
    ({"project_slug": "données"}, SLUG),
    ({"package_name": "1sales"}, PACKAGE),
    ({"package_name": "Sales"}, PACKAGE),
    ({"package_name": "sales-analytics"}, PACKAGE),
    ({"package_name": "a" * 61}, PACKAGE),
    ({"package_name": "class"}, "'class' is a Python keyword, e.g. class_pipelines"),
    ({"package_name": "match"}, "'match' is a Python keyword, e.g. match_pipelines"),
    ({"package_name": "dagster"}, imported("dagster")),
    ({"package_name": "dagster_pipes"}, imported("dagster_pipes")),
    ({"package_name": "databricks"}, imported("databricks")),
    ({"package_name": "pyspark"}, imported("pyspark")),
    ({"package_name": "local_databricks"}, imported("local_databricks")),
    ({"package_name": "requests"}, imported("requests")),
    ({"package_name": "pydantic"}, imported("pydantic")),
    ({"package_name": "yaml"}, imported("yaml")),
    ({"package_name": "conftest"}, imported("conftest")),
    ({"package_name": "tests"}, imported("tests")),
    ({"package_name": "test"}, imported("test")),
    ({"project_name": "Requests"}, imported("requests")),
    ({"package_name": "json"}, "'json' shadows a standard-library module, e.g. sales_data"),
    ({"package_name": "tomllib"}, "'tomllib' shadows a standard-library module, e.g. sales_data"),
    ({"description": ""}, "must not be empty, e.g. Daily sales tables, computed on Databricks"),
    ({"description": "x" * 201}, f"must be at most 200 characters, {DESCRIPTION}"),
    ({"description": "two\nlines"}, f"must be one line without control characters, {DESCRIPTION}"),
    ({"description": "tab\there"}, f"must be one line without control characters, {DESCRIPTION}"),
    (
        {"description": "next\x85line"},
        f"must be one line without control characters, {DESCRIPTION}",
    ),
    ({"description": "del\x7f"}, f"must be one line without control characters, {DESCRIPTION}"),
    ({"author_name": ""}, f"must not be empty, {AUTHOR}"),
    ({"author_name": "x" * 101}, f"must be at most 100 characters, {AUTHOR}"),
    ({"author_name": "Ann <ann@example.com>"}, f'cannot hold "<", {AUTHOR}'),
    ({"author_name": "Ann, Bob"}, f'cannot hold ",", {AUTHOR}'),
    ({"author_name": "Ann\rBob"}, f"must be one line without control characters, {AUTHOR}"),
    ({"author_email": "not-an-email"}, "must be an e-mail address, e.g. data-platform@example.com"),
    (
        {"author_email": "ann@localhost"},
        "must be an e-mail address, e.g. data-platform@example.com",
    ),
    ({"databricks_host": "http://dbc-1.cloud.databricks.com"}, f"must start with https://, {HOST}"),
    ({"databricks_host": "dbc-1.cloud.databricks.com"}, f"must start with https://, {HOST}"),
    (
        {"databricks_host": "https://dbc-1.cloud.databricks.com/login"},
        f"must be a host only, {HOST}",
    ),
    (
        {"databricks_host": "https://dbc-1.cloud.databricks.com/?o=1"},
        f"must be a host only, {HOST}",
    ),
    (
        {"databricks_host": "https://me:x@dbc-1.cloud.databricks.com"},
        f"must not hold credentials, {HOST}",
    ),
    ({"databricks_host": "https://dbc_1.cloud.databricks.com"}, f"must be a host name, {HOST}"),
    ({"databricks_host": "https://"}, f"must be a host name, {HOST}"),
    (
        {"auth_method": "azure-client-secret", "cloud": "aws"},
        "needs cloud 'azure', not 'aws'; e.g. pat",
    ),
    (
        {"auth_method": "azure-client-secret", "cloud": "gcp"},
        "needs cloud 'azure', not 'gcp'; e.g. pat",
    ),
    ({"catalog": "Main"}, f"{CATALOG} main"),
    ({"catalog": "1st"}, f"{CATALOG} main"),
    ({"schema": "sales-data"}, f"{CATALOG} sales_analytics"),
    ({"pipes_volume": "/Volumes/main/sales"}, VOLUME),
    ({"pipes_volume": "/dbfs/tmp/pipes"}, VOLUME),
    ({"pipes_volume": "/Volumes/main/sales/pipes/"}, VOLUME),
    ({"pipes_volume": "/Volumes/Main/sales/pipes"}, VOLUME),
]

# Copier's own check of a choice question: the value is not one of the choices.
BAD_CHOICES = [
    ({"python_version": "3.9"}, "Invalid choice for 'python_version'"),
    ({"compute": "gpu"}, "Invalid choice for 'compute'"),
    ({"cloud": "oracle"}, "Invalid choice for 'cloud'"),
]
PREFIX = re.compile(r"(Validation error for question|Invalid choice for) '\w+': ")


def questions() -> dict[str, dict[str, Any]]:
    """The questions of copier.yml (its last YAML document)."""
    return yaml.safe_load((ROOT / "copier.yml").read_text().split("\n---\n")[-1])


def reserved_names() -> dict[str, list[str]]:
    """The generated name lists that the package_name validator checks."""
    data = yaml.safe_load((ROOT / "hooks" / "reserved_names.yml").read_text())
    return {name: spec["default"].split() for name, spec in data.items()}


def validators() -> dict[str, str]:
    """Every validator of copier.yml: one per question, and one per validated choice."""
    found = {}
    for name, spec in questions().items():
        if "validator" in spec:
            found[name] = spec["validator"]
        choices = spec.get("choices", {})
        for choice in choices.values() if isinstance(choices, dict) else []:
            if isinstance(choice, dict) and "validator" in choice:
                found[f"{name}={choice['value']}"] = choice["validator"]
    return found


def first_line_patterns(validator: str) -> list[re.Pattern[str]]:
    """One pattern per message a validator can give: its first line, `{{ }}` as a wildcard."""
    parts = re.split(r"\{%-?\s*(if|elif|else|endif|set)\b.*?-?%\}", validator, flags=re.DOTALL)
    patterns = []
    for keyword, body in zip(parts[1::2], parts[2::2], strict=True):
        if keyword in {"if", "elif", "else"} and body.strip():
            line = body.strip().splitlines()[0]
            static = re.split(r"\{\{.*?\}\}", line)
            patterns.append(re.compile(".+?".join(map(re.escape, static))))
    return patterns


def columns(text: str) -> int:
    """Terminal columns of ``text`` (East Asian wide characters take two)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def rejection(template_repo: Path, dst: Path, data: dict[str, Any]) -> str:
    """Render ``data``, expect a rejection that writes nothing; return its message."""
    with pytest.raises(ValueError, match=r"Validation error|Invalid choice") as error:
        render(template_repo, dst, data)
    assert not dst.exists() or not any(dst.iterdir())
    return PREFIX.sub("", str(error.value), count=1)


@pytest.mark.parametrize(("data", "first_line"), BAD_ANSWERS, ids=lambda v: str(v)[:40])
def test_bad_answer_is_rejected_and_nothing_is_written(
    template_repo: Path, tmp_path: Path, data: dict[str, Any], first_line: str
) -> None:
    message = rejection(template_repo, tmp_path / "project", data)
    assert message.splitlines()[0] == first_line
    assert columns(first_line) <= FIRST_LINE_COLUMNS, first_line
    assert "e.g. " in first_line


@pytest.mark.parametrize(("data", "message"), BAD_CHOICES, ids=lambda v: str(v)[:40])
def test_bad_choice_is_rejected_and_nothing_is_written(
    template_repo: Path, tmp_path: Path, data: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match="Invalid choice") as error:
        render(template_repo, tmp_path / "project", data)
    assert message in str(error.value)
    assert not (tmp_path / "project").exists() or not any((tmp_path / "project").iterdir())


@pytest.mark.parametrize("name", sorted(validators()))
def test_every_message_of_every_validator_is_checked(name: str) -> None:
    """Each message of copier.yml's validators is the expected first line of a bad answer."""
    patterns = first_line_patterns(validators()[name])
    assert patterns, f"no message found in the validator of {name}"
    expected = [line for _, line in BAD_ANSWERS]
    unchecked = [p.pattern for p in patterns if not any(p.fullmatch(line) for line in expected)]
    assert not unchecked, f"{name}: add a BAD_ANSWERS case for each of {unchecked}"


@pytest.mark.parametrize("names", ["python_keywords", "reserved_packages", "stdlib_modules"])
def test_longest_reserved_name_gets_a_short_first_line(
    template_repo: Path, tmp_path: Path, names: str
) -> None:
    longest = max(reserved_names()[names], key=len)
    if names == "python_keywords":
        longest = max((n for n in reserved_names()[names] if n.islower()), key=len)
    message = rejection(template_repo, tmp_path / "project", {"package_name": longest})
    assert columns(message.splitlines()[0]) <= FIRST_LINE_COLUMNS, message


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
    assert "'json' shadows a standard-library module, e.g. sales_data" in result.stderr
    assert not dst.exists()


def answers_of(project: Path) -> dict[str, Any]:
    """The answers a render recorded."""
    return yaml.safe_load((project / ".copier-answers.yml").read_text())


def test_valid_edge_answers_render(template_repo: Path, tmp_path: Path) -> None:
    project = render(
        template_repo,
        tmp_path / "project",
        {
            "project_name": "A",
            "package_name": "a1_pipelines",
            "databricks_host": "https://adb-1234.5.azuredatabricks.net:443/",
            "description": 'Says "hello" \\ back',
            "author_name": "O'Brien & Søn (Data) + 🚀",
        },
    )
    assert (project / "src" / "a1_pipelines" / "definitions.py").is_file()
    metadata = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    assert metadata["description"] == 'Says "hello" \\ back'
    assert metadata["authors"][0]["name"] == "O'Brien & Søn (Data) + 🚀"


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("Données Pipeline", "donnees-pipeline"),
        ("DONNÉES PIPELINE", "donnees-pipeline"),
        ("Donne\u0301es Pipeline", "donnees-pipeline"),  # decomposed: e + combining acute
        ("Straße Œuvre Æble Łódź Ørsted Đakovo", "strasse-oeuvre-aeble-lodz-orsted-dakovo"),
        ("Crème brûlée — naïve façade", "creme-brulee-naive-facade"),
        ("Σales Данные Analytics 2", "ales-analytics-2"),
        ("O'Brien & Søn (EU), v2+", "o-brien-son-eu-v2"),
    ],
)
def test_unicode_title_gives_an_ascii_slug_and_package(
    template_repo: Path, tmp_path: Path, title: str, slug: str
) -> None:
    project = render(template_repo, tmp_path / "project", {"project_name": title})
    package = slug.replace("-", "_")[:32].rstrip("_")  # package names stop at 32 characters
    assert answers_of(project)["project_name"] == title
    assert (answers_of(project)["project_slug"], answers_of(project)["package_name"]) == (
        slug,
        package,
    )
    assert (project / "src" / package / "definitions.py").is_file()
    assert (project / "README.md").read_text().startswith(f"# {title}\n")


def test_title_without_latin_letters_renders_with_a_chosen_slug(
    template_repo: Path, tmp_path: Path
) -> None:
    data = {"project_name": "データ パイプライン", "project_slug": "data-pipeline"}
    project = render(template_repo, tmp_path / "project", data)
    assert answers_of(project)["package_name"] == "data_pipeline"


def test_long_title_gives_a_package_name_of_at_most_32_characters(
    template_repo: Path, tmp_path: Path
) -> None:
    project = render(template_repo, tmp_path / "project", {"project_name": "Æ" * 80})
    assert answers_of(project)["project_slug"] == "ae" * 80
    assert answers_of(project)["package_name"] == "ae" * 16


def test_emoji_description_and_author_give_a_pyproject_that_parses(
    template_repo: Path, tmp_path: Path
) -> None:
    description = "Launches 🚀 rockets, plays 𝄞, writes 𠀋 and 👩\u200d💻 data"
    author = "Zoë 🚀 Team"
    data = {"description": description, "author_name": author}
    project = render(template_repo, tmp_path / "project", data)
    metadata = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    assert (metadata["description"], metadata["authors"][0]["name"]) == (description, author)
    assert description in (project / "README.md").read_text()


def test_azure_client_secret_is_a_valid_choice_on_azure(
    template_repo: Path, tmp_path: Path
) -> None:
    data = {"cloud": "azure", "auth_method": "azure-client-secret"}
    project = render(template_repo, tmp_path / "project", data)
    assert answers_of(project)["auth_method"] == "azure-client-secret"


def test_reserved_names_cover_the_installed_interpreters() -> None:
    code = "import json, sys; print(json.dumps(sorted(sys.stdlib_module_names)))"
    names = json.loads(subprocess.check_output([sys.executable, "-c", code]))
    missing = {n for n in names if not n.startswith("_")} - set(reserved_names()["stdlib_modules"])
    assert not missing, f"rerun hooks/reserved_names.py: {sorted(missing)}"
