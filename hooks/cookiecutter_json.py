"""Generate ``cookiecutter.json`` from ``copier.yml``: the questions of the cookiecutter and
cruft front ends, never written by hand.

Copier is the single source. For each visible question of copier.yml (its last YAML document;
the included hidden answers stay Copier's) this writes the cookiecutter variable:

- a choice question becomes a choice list whose first item is Copier's default, labels in
  ``__prompts__``;
- a bool stays a bool; a str keeps its default, an empty one when Copier has none;
- a derived default (``{{ project_slug | replace('-', '_') }}``) is the same Jinja with each
  question name prefixed by ``cookiecutter.``, rendered by the same filters
  (jinja2-ansible-filters, which Copier uses) so cookiecutter derives the same values.

Validation is not translated: the pre-generation hook hands every answer to Copier, whose own
validators reject it (hooks/pre_gen_project.py). Run after any change to copier.yml::

    python hooks/cookiecutter_json.py          # rewrite cookiecutter.json
    python hooks/cookiecutter_json.py --check  # exit 1 if it is stale (tests/test_cookiecutter.py)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml
from jinja2 import Environment

ROOT = Path(__file__).resolve().parent.parent
COPIER_YML = ROOT / "copier.yml"
OUTPUT = ROOT / "cookiecutter.json"
# Loaded into cookiecutter's Jinja environment: Copier's filters (regex_replace, to_json...)
# and the bridge that tells the hooks which template checkout is being rendered.
EXTENSIONS = [
    "jinja2_ansible_filters.AnsibleCoreFiltersExtension",
    "cookiecutter_copier.CopierBridge",
]
# What cookiecutter writes when it is run without the hooks (they do the rendering).
PLACEHOLDER = "COOKIECUTTER_RAN_WITHOUT_HOOKS.md"


def questions(text: str) -> dict[str, dict[str, Any]]:
    """The visible questions of copier.yml: its last YAML document, `when: false` left out."""
    found = yaml.safe_load(text.split("\n---\n")[-1])
    return {
        name: spec
        for name, spec in found.items()
        if isinstance(spec, dict) and spec.get("when") is not False
    }


def prefixed(template: str, names: set[str]) -> str:
    """``template`` with every reference to a question in ``names`` as ``cookiecutter.name``.

    Token-based, so attribute names (``slug.text``), filters and string literals that happen
    to spell a question name are left alone.
    """
    env = Environment()
    out: list[str] = []
    previous = ""
    for _, kind, value in env.lex(template):
        if kind == "name" and value in names and previous not in {".", "|", "is"}:
            out.append(f"cookiecutter.{value}")
        else:
            out.append(value)
        if kind not in {"whitespace"}:
            previous = value
    return "".join(out)


def choice_values(spec: dict[str, Any]) -> tuple[list[Any], dict[str, str]]:
    """A choice question's values in Copier's order and the label of each value."""
    choices = spec["choices"]
    if isinstance(choices, list):
        return list(choices), {}
    values, labels = [], {}
    for label, choice in choices.items():
        value = choice["value"] if isinstance(choice, dict) else choice
        values.append(value)
        labels[str(value)] = label
    return values, labels


def variable(name: str, spec: dict[str, Any], names: set[str]) -> tuple[Any, Any]:
    """The cookiecutter value and ``__prompts__`` entry of one Copier question."""
    kind = spec.get("type", "str")
    default = spec.get("default")
    help_text = spec.get("help", name)
    if spec.get("multiselect") or kind not in {"str", "bool"}:
        what = f"{kind} multiselect" if spec.get("multiselect") else kind
        raise ValueError(
            f"copier.yml: {name} is a {what} question;"
            " cookiecutter.json can only carry str, bool and single-choice questions,"
            " e.g. `type: str` with `choices`"
        )
    if "choices" in spec:
        values, labels = choice_values(spec)
        if default not in values:
            raise ValueError(f"copier.yml: the default of {name} ({default!r}) is not a choice")
        ordered = [default] + [v for v in values if v != default]
        return ordered, {"__prompt__": help_text, **labels} if labels else help_text
    if kind == "bool":
        return bool(default), help_text
    if default is None:
        return "", help_text
    return prefixed(str(default), names), help_text


def cookiecutter_json(text: str) -> str:
    """The text of cookiecutter.json for the text of copier.yml."""
    found = questions(text)
    names = set(found)
    context: dict[str, Any] = {}
    prompts: dict[str, Any] = {}
    for name, spec in found.items():
        context[name], prompts[name] = variable(name, spec, names)
    context["__prompts__"] = prompts
    context["_extensions"] = EXTENSIONS
    return json.dumps(context, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    """Write cookiecutter.json, or with --check report whether it is stale."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if cookiecutter.json is stale")
    args = parser.parse_args(argv)
    expected = cookiecutter_json(COPIER_YML.read_text())
    if args.check:
        current = OUTPUT.read_text() if OUTPUT.exists() else ""
        if current != expected:
            print(
                "cookiecutter.json is stale (copier.yml changed): run"
                " `python hooks/cookiecutter_json.py` and commit it",
                file=sys.stderr,
            )
            return 1
        return 0
    OUTPUT.write_text(expected)
    print(f"wrote {OUTPUT.relative_to(ROOT)} ({len(expected)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
