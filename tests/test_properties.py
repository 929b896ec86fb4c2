"""Property: every answer set the validators accept renders a project whose files parse.

Hypothesis draws titles in any script (after a Latin word, so a slug can be derived),
descriptions and author names with emoji and other characters outside the Basic
Multilingual Plane, and every valid combination of the choice questions. Each render's TOML,
YAML, JSON and Python files must parse, the free text must come back unchanged, uv must read
``pyproject.toml`` and its PEP 621 metadata must validate (validate-pyproject: uv has no
offline command that checks ``description`` or ``authors``), and ruff must pass.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import yaml
from answers import choice_values, is_valid
from hypothesis import Phase, example, given, settings
from hypothesis import strategies as st
from rendering import ROOT, render
from validate_pyproject import api as validate_pyproject

# validate-pyproject would download PyPI's classifier list to check classifiers.
os.environ.setdefault("VALIDATE_PYPROJECT_NO_NETWORK", "1")

# A title's first word and the slug it must start with.
LATIN_WORDS = {
    "Sales": "sales",
    "Données": "donnees",
    "DONNÉES": "donnees",
    "Straße": "strasse",
    "Łódź": "lodz",
    "Ærø": "aero",
    "Œuvre": "oeuvre",
    "Ñandú": "nandu",
    "Crème": "creme",
}
# Characters outside the Basic Multilingual Plane (Jinja's tojson wrote them as surrogates).
NON_BMP = list("🚀😀𝄞𠀋\U0001f1eb")
# Any non-ASCII character but controls, surrogates and line or paragraph separators.
NON_ASCII = st.characters(min_codepoint=0xA0, exclude_categories=("Cc", "Cs", "Zl", "Zp"))
TITLE_TAIL = st.one_of(NON_ASCII, st.sampled_from(list("Az09 .,-_'&()+")))
FREE_TEXT = st.one_of(
    st.characters(exclude_categories=("Cc", "Cs", "Zl", "Zp")), st.sampled_from(NON_BMP)
)
FREE_TEXT_ANSWERS = ("project_name", "description", "author_name")
CHOICES = st.fixed_dictionaries({n: st.sampled_from(v) for n, v in choice_values().items()})


@st.composite
def answers(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A title's first Latin word, and an answer set that every validator accepts."""
    word = draw(st.sampled_from(sorted(LATIN_WORDS)))
    author_text = FREE_TEXT.filter(lambda c: c not in '<>",')
    return word, {
        "project_name": word + draw(st.text(TITLE_TAIL, max_size=80 - len(word))),
        "description": draw(st.text(FREE_TEXT, min_size=1, max_size=200)),
        "author_name": draw(st.text(author_text, min_size=1, max_size=100)),
        "author_email": draw(st.sampled_from(["data-platform@example.com", "zoe+d@example.co.uk"])),
        "databricks_host": draw(st.sampled_from(["", "https://adb-1234.5.azuredatabricks.net/"])),
        **draw(CHOICES.filter(is_valid)),
    }


def reserved() -> set[str]:
    """Every name the package_name validator rejects as taken."""
    data = yaml.safe_load((ROOT / "hooks" / "reserved_names.yml").read_text())
    return {name for spec in data.values() for name in spec["default"].split()}


def test_no_latin_word_derives_a_reserved_package_name() -> None:
    """The generated titles are valid by construction: no derived package name is taken."""
    taken = [n for n in reserved() for slug in LATIN_WORDS.values() if n.startswith(slug)]
    assert not taken


PARSERS = {
    ".toml": tomllib.loads,
    ".yml": lambda text: list(yaml.safe_load_all(text)),
    ".yaml": lambda text: list(yaml.safe_load_all(text)),
    ".json": json.loads,
    ".py": ast.parse,
}


def parse_every_file(project: Path) -> None:
    """Parse every TOML, YAML, JSON and Python file of a render; fail on the first error."""
    for path in project.rglob("*"):
        parse = PARSERS.get(path.suffix)
        if parse is None or not path.is_file() or ".git" in path.parts:
            continue
        try:
            parse(path.read_text(encoding="utf-8"))
        except Exception as error:
            raise AssertionError(f"{path.relative_to(project)} does not parse: {error}") from error


def run(project: Path, *command: str) -> None:
    """Run a command in the render; fail with its output if it fails."""
    result = subprocess.run(command, cwd=project, capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(command)}:\n{result.stdout}{result.stderr}"


# A render takes about a second: no shrinking (it took minutes), and the first failure is
# reported as drawn, with the seed that reproduces it.
@settings(
    max_examples=15,
    deadline=None,
    database=None,
    phases=(Phase.explicit, Phase.generate),
    report_multiple_bugs=False,
)
@given(answers())
@example(
    (
        "Données",
        {
            "project_name": "Données Pipeline 🚀",
            "description": "Rocket 🚀 launch data, 👩\u200d💻 by the 𠀋 team",
            "author_name": "Zoë 🚀 Ørsted",
            "cloud": "azure",
            "auth_method": "azure-client-secret",
        },
    )
)
def test_accepted_answers_render_files_that_parse(
    template_repo: Path, case: tuple[str, dict[str, Any]]
) -> None:
    word, data = case
    with tempfile.TemporaryDirectory() as tmp:
        project = render(template_repo, Path(tmp) / "p", data)
        parse_every_file(project)

        recorded = yaml.safe_load((project / ".copier-answers.yml").read_text(encoding="utf-8"))
        assert {name: recorded[name] for name in FREE_TEXT_ANSWERS} == {
            name: data[name] for name in FREE_TEXT_ANSWERS
        }
        slug = recorded["project_slug"]
        assert slug.startswith(LATIN_WORDS[word])
        assert recorded["package_name"] == slug.replace("-", "_")[:32].rstrip("_")

        pyproject = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
        assert pyproject["project"]["description"] == data["description"]
        assert pyproject["project"]["authors"][0]["name"] == data["author_name"]
        validate_pyproject.Validator()(pyproject)
        run(project, "uv", "version", "--offline")
        run(project, sys.executable, "-m", "ruff", "check", "--no-cache", ".")
        run(project, sys.executable, "-m", "ruff", "format", "--check", "--no-cache", ".")
