"""Each validator rejects its bad inputs with a message saying what is valid, leaving no files.

A message's first line is what the interactive prompt shows, in a one-line toolbar after
"Validation error for question '<name>': ": with that prefix it fits 80 columns, and it says
what is wrong, quotes the answer (cut to fit) or its wrong part, and gives one valid example.
databricks_host alone has too few columns left (31) for any workspace host: its example is on
the second line. tests/test_screen.py reads the same lines from a terminal of 80 columns.
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

import copier
import pytest
import yaml
from rendering import ROOT, render

TOOLBAR_COLUMNS = 80
# Questions whose first line has no room for an example: it opens the second line.
EXAMPLE_ON_SECOND_LINE = {"databricks_host"}
SALES = "e.g. Sales"
DESCRIPTION = "e.g. Sales ETL"
AUTHOR = "e.g. Data Team"
VOLUME = "bad path, e.g. /Volumes/main/s/vol"


def cut(value: str, width: int) -> str:
    """The answer as a first line quotes it: JSON, cut to ``width`` columns."""
    text = json.dumps(value)
    if len(text) <= width:
        return text
    return re.sub(r"\\(u[0-9a-fA-F]{0,3})?$", "", text[: width - 2]) + '…"'


def imported(name: str) -> str:
    return f"{cut(name, 10)}: an import, e.g. sales"


# Each bad answer and the first line of the message it gets (after Copier's prefix).
BAD_ANSWERS: list[tuple[dict[str, Any], str]] = [
    ({"project_name": ""}, f"must not be empty, {SALES}"),
    ({"project_name": "1st project"}, f'"1st p…": letter first, {SALES}'),
    ({"project_name": "_Sales"}, f'"_Sales": letter first, {SALES}'),
    ({"project_name": "x" * 81}, f"81 chars, max 80; {SALES}"),
    ({"project_name": "sales/analytics"}, f'can\'t hold "/", {SALES}'),
    ({"project_name": 'Say "hi"'}, f'can\'t hold "\\"", {SALES}'),
    ({"project_name": "Sales\nAnalytics"}, f'can\'t hold "\\n", {SALES}'),
    ({"project_name": "Sales\u2028Analytics"}, f'can\'t hold "\\u2028", {SALES}'),
    ({"project_name": "Данные"}, "must not be empty, e.g. sales"),
    ({"project_slug": "Sales"}, 'can\'t hold "S", e.g. sales'),
    ({"project_slug": "sales--analytics"}, '"sales--…": not a slug, e.g. sales'),
    ({"project_slug": "2sales"}, '"2sales": not a slug, e.g. sales'),
    ({"project_slug": "sales_analytics"}, 'can\'t hold "_", e.g. sales'),
    ({"project_slug": "données"}, 'can\'t hold "\\u00e9", e.g. sales'),
    ({"package_name": "1sales"}, '"1sales": a-z first, e.g. sales'),
    ({"package_name": "Sales"}, '"Sales": a-z first, e.g. sales'),
    ({"package_name": "éclair"}, '"\\u00e9cl…": a-z first, e.g. sales'),
    ({"package_name": "sales-analytics"}, 'can\'t hold "-", e.g. sales'),
    ({"package_name": "a" * 61}, "61 chars, max 32; e.g. sales"),
    ({"package_name": "class"}, '"class": keyword, e.g. sales'),
    ({"package_name": "match"}, '"match": keyword, e.g. sales'),
    ({"package_name": "dagster"}, imported("dagster")),
    ({"package_name": "dagster_pipes"}, imported("dagster_pipes")),
    ({"package_name": "databricks"}, imported("databricks")),
    ({"package_name": "pyspark"}, imported("pyspark")),
    ({"package_name": "local_databricks"}, imported("local_databricks")),
    ({"package_name": "requests"}, '"requests": an import, e.g. sales'),
    ({"package_name": "pydantic"}, '"pydantic": an import, e.g. sales'),
    ({"package_name": "yaml"}, imported("yaml")),
    ({"package_name": "conftest"}, '"conftest": an import, e.g. sales'),
    ({"package_name": "tests"}, imported("tests")),
    ({"package_name": "test"}, imported("test")),
    ({"project_name": "Requests"}, '"requests": an import, e.g. sales'),
    ({"package_name": "json"}, '"json": in stdlib, e.g. sales'),
    ({"package_name": "tomllib"}, '"tomllib": in stdlib, e.g. sales'),
    ({"description": ""}, f"must not be empty, {DESCRIPTION}"),
    ({"description": "x" * 201}, f"201 chars, max 200; {DESCRIPTION}"),
    ({"description": "x" * 2001}, f"2001 chars, max 200; {DESCRIPTION}"),
    ({"description": "two\nlines"}, f'can\'t hold "\\n", {DESCRIPTION}'),
    ({"description": "tab\there"}, f'can\'t hold "\\t", {DESCRIPTION}'),
    ({"description": "next\x85line"}, f'can\'t hold "\\u0085", {DESCRIPTION}'),
    ({"description": "del\x7f"}, f'can\'t hold "\\u007f", {DESCRIPTION}'),
    ({"author_name": ""}, f"must not be empty, {AUTHOR}"),
    ({"author_name": "x" * 101}, f"101 chars, max 100; {AUTHOR}"),
    ({"author_name": "Ann <ann@example.com>"}, f'can\'t hold "<", {AUTHOR}'),
    ({"author_name": "Ann, Bob"}, f'can\'t hold ",", {AUTHOR}'),
    # Not \r: cookiecutter turns it into \n before Copier sees it.
    ({"author_name": "Ann\x07Bob"}, f'can\'t hold "\\u0007", {AUTHOR}'),
    ({"author_name": "Ann\u2029"}, f'can\'t hold "\\u2029", {AUTHOR}'),
    ({"author_email": "not-an-email"}, "not an e-mail, e.g. me@example.com"),
    ({"author_email": "ann@localhost"}, "not an e-mail, e.g. me@example.com"),
    ({"databricks_host": "http://dbc-1.cloud.databricks.com"}, 'use https://, not "http://"'),
    ({"databricks_host": "ftp://dbc-1.cloud.databricks.com"}, 'use https://, not "ftp://"'),
    (
        {"databricks_host": "https://me:x@dbc-1.cloud.databricks.com"},
        "must not hold user:password@",
    ),
    (
        {"databricks_host": "https://dbc_1.cloud.databricks.com"},
        '"dbc_1.clo…": not a host name',
    ),
    ({"databricks_host": "https://"}, '"": not a host name'),
    (
        {"auth_method": "azure-client-secret", "cloud": "aws"},
        "needs Azure, not aws; e.g. pat",
    ),
    (
        {"auth_method": "azure-client-secret", "cloud": "gcp"},
        "needs Azure, not gcp; e.g. pat",
    ),
    ({"catalog": ""}, "must not be empty, e.g. main"),
    ({"catalog": "x" * 256}, "256 chars, max 255; e.g. main"),
    ({"catalog": "Main"}, 'can\'t hold "M", e.g. main'),
    ({"catalog": "1st"}, '"1st": a-z or _ first, e.g. main'),
    ({"schema": ""}, "must not be empty, e.g. sales"),
    ({"schema": "s" * 256}, "256 chars, max 255; e.g. sales"),
    ({"schema": "sales-data"}, 'can\'t hold "-", e.g. sales'),
    ({"schema": "2024_sales"}, '"2024_sa…": a-z or _ first, e.g. sales'),
    ({"pipes_volume": "/Volumes/main/sales"}, VOLUME),
    ({"pipes_volume": "/dbfs/tmp/pipes"}, VOLUME),
    ({"pipes_volume": "/Volumes/main/sales/pipes/"}, VOLUME),
    ({"pipes_volume": "/Volumes/Main/sales/pipes"}, VOLUME),
    ({"pipes_volume": "/Volumes/ops/sales/pipes"}, "wrong schema, e.g. /Volumes/m/s/v"),
    ({"pipes_volume": "/Volumes/main/ops/pipes"}, "wrong schema, e.g. /Volumes/m/s/v"),
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


def toolbar(name: str, first_line: str) -> str:
    """The prompt's toolbar line for a message's first line."""
    return f"Validation error for question '{name}': {first_line}"


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
    name = next(iter(data)) if "auth_method" not in data else "auth_method"
    assert columns(toolbar(name, first_line)) <= TOOLBAR_COLUMNS, toolbar(name, first_line)
    if name in EXAMPLE_ON_SECOND_LINE:
        second = message.splitlines()[1]
        assert "e.g. https://" in second and columns(second) <= TOOLBAR_COLUMNS, message
    else:
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
    assert columns(toolbar("package_name", message.splitlines()[0])) <= TOOLBAR_COLUMNS, message
    assert message.splitlines()[0].startswith(cut(longest, 10)), message


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
    assert "Validation error for question 'package_name': \"json\": in stdlib, e.g. sales" in (
        result.stderr
    )
    assert "shadow the standard-library module 'json'" in result.stderr
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


@pytest.mark.parametrize(
    "typed",
    [
        "https://adb-1234567890123456.7.azuredatabricks.net/?o=1234567890123456",
        "https://adb-1234567890123456.7.azuredatabricks.net/#job/12",
        "adb-1234567890123456.7.azuredatabricks.net",
    ],
)
def test_workspace_url_from_the_browser_keeps_the_host_and_updates(
    template_repo: Path, tmp_path: Path, typed: str
) -> None:
    """The URL as copied is accepted and recorded; the project uses its host only, says so,
    and `copier update --defaults` replays the recorded answer."""
    host = "https://adb-1234567890123456.7.azuredatabricks.net"
    project = tmp_path / "project"
    worker = copier.run_copy(
        str(template_repo),
        project,
        data={"project_name": "Sales", "databricks_host": typed, "auth_method": "pat"},
        defaults=True,
        unsafe=True,
        skip_tasks=True,
        quiet=True,
    )
    assert answers_of(project)["databricks_host"] == typed
    assert f"DATABRICKS_HOST={host}\n" in (project / ".env.example").read_text()
    assert "Workspace URL: kept only the host" in worker.template.message_after_copy
    git_env = ["-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=project, check=True)
    subprocess.run(["git", "add", "-A"], cwd=project, check=True)
    subprocess.run(["git", *git_env, "commit", "-qm", "p"], cwd=project, check=True)
    copier.run_update(
        project, defaults=True, overwrite=True, unsafe=True, skip_tasks=True, quiet=True
    )
    assert answers_of(project)["databricks_host"] == typed
    assert f"DATABRICKS_HOST={host}\n" in (project / ".env.example").read_text()


def test_closing_message_names_the_kept_host(template_repo: Path, tmp_path: Path) -> None:
    url = "https://adb-1234567890123456.7.azuredatabricks.net/?o=1234567890123456"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "copier",
            "copy",
            "--skip-tasks",
            "--defaults",
            "--data",
            "project_name=Sales",
            "--data",
            f"databricks_host={url}",
            str(template_repo),
            str(tmp_path / "project"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    said = " ".join(result.stderr.split())
    host = "https://adb-1234567890123456.7.azuredatabricks.net"
    assert f"Workspace URL: kept only the host, {host}, of {url} (for .env.example)." in said
    closing = result.stderr[result.stderr.index("Your Dagster code location") :].splitlines()
    # Lines fit 80 columns, but for the destination's path, which no wrap can cut.
    dst = str(tmp_path / "project")
    assert all(len(line.replace(dst, "~")) <= 80 for line in closing), result.stderr
