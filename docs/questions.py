"""Write docs/questions.md, the question reference, from copier.yml.

    python docs/questions.py           # rewrite docs/questions.md
    python docs/questions.py --check   # exit 1 when docs/questions.md is not what copier.yml says

copier.yml is the only source: each question's help, type, choices, default, when it is asked,
and its validator's rules, read from the messages the validator gives (the first line of each
branch: "must not be empty, e.g. Sales"). tests/test_docs.py fails when the
committed page is stale. Hidden answers (``when: false``, the pins of versions.yml and the
reserved names) are not questions and are left out.
"""

from __future__ import annotations

import argparse
import html
import re
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
COPIER_YML = ROOT / "copier.yml"
PAGE = ROOT / "docs" / "questions.md"
JINJA_EXPRESSION = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}", re.DOTALL)
JINJA_TAG = re.compile(r"^\{%-?\s*(if|elif)\b.*%\}$")
# A default longer than this is described by what it derives from, not printed.
SHORT = 60


class _Loader(yaml.SafeLoader):
    """YAML with Copier's ``!include`` (the included documents' keys are hidden answers)."""


def _include(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for document in yaml.load_all((ROOT / str(node.value)).read_text(), Loader=_Loader):
        merged.update(document or {})
    return merged


_Loader.add_constructor("!include", _include)


def questions(path: Path = COPIER_YML) -> dict[str, dict[str, Any]]:
    """The questions of ``path`` in their order: settings (``_...``) and hidden answers out."""
    found: dict[str, dict[str, Any]] = {}
    for document in yaml.load_all(path.read_text(), Loader=_Loader):
        for name, spec in (document or {}).items():
            if name.startswith("_") or not isinstance(spec, dict):
                continue
            if spec.get("when") is False or str(spec.get("when")).strip() == "false":
                continue
            found[name] = spec
    return found


def in_words(text: str, names: tuple[str, ...] = ()) -> str:
    """Jinja expressions as the names they read (``{{ package_name | x }}`` -> ``package_name``);
    with ``names``, an expression of anything else reads as ``…``."""

    def word(match: re.Match[str]) -> str:
        name = re.split(r"[\s|(]", match.group(1))[0]
        return name if not names or name in names else "…"

    return JINJA_EXPRESSION.sub(word, text)


def plain(text: str, names: tuple[str, ...]) -> str:
    """A message without the parts that quote the answer back (``got "x"``, ``not 'x'``)."""
    text = re.split(r"(?i);? ?\bgot ", text)[0].strip().rstrip(";.")
    # A first line opens with the answer quoted back ("{{ got(x, 8) }}: letter first") or
    # counted ("{{ x | length }} chars, max 80"): the rule is what follows.
    text = re.sub(r"^\{\{ got\(.*?\}\}: ", "", text)
    text = re.sub(r"^\{\{.*?\}\} chars, max (\d+)$", r"at most \1 characters", text)
    marked = JINJA_EXPRESSION.sub(lambda m: "\0" + m.group(0), text)
    parts = in_words(marked, names).split(", ")
    kept = [part for part in parts if "\0" not in part] or parts
    sentence = ", ".join(kept).replace("\0", "")
    first = sentence.split(" ")[0]
    if len(first) == 1 or first[1:].islower():  # a detail continues the rule's sentence
        sentence = sentence[0].lower() + sentence[1:]
    return sentence


def rules(validator: str, names: tuple[str, ...] = ()) -> list[str]:
    """Each branch of a validator as a rule: its message's first line, with the detail lines
    that follow it when they state the rule (not the answer quoted back)."""
    found: list[str] = []
    branch: list[str] | None = None
    for line in [*(line.strip() for line in validator.splitlines()), "{% endif %}"]:
        if line.startswith("{%"):
            if branch:
                first = plain(re.split(r"[,;] e\.g\. ", branch[0])[0], names)
                # Details that quote the answer back say nothing about the rule.
                details = [
                    plain(detail, names)
                    for detail in branch[1:]
                    if "{{" not in re.split(r"(?i)\bgot ", detail)[0]
                ]
                details = [detail for detail in details if detail and "…" not in detail]
                found.append(first + (f" ({'; '.join(details)})" if details else ""))
            branch = [] if JINJA_TAG.match(line) else None
        elif branch is not None and line:
            branch.append(line)
    return found


def example(validator: str) -> str | None:
    """The valid example the validator's first message gives, if it gives a literal one."""
    match = re.search(r"e\.g\. ([^\n{]+)$", validator, re.MULTILINE)
    return match.group(1).strip() if match else None


def text(words: str) -> str:
    """Prose for Markdown: ``<catalog>`` would be read as an HTML tag."""
    return html.escape(words, quote=False)


def choices(spec: dict[str, Any], names: list[str]) -> list[str]:
    """Each choice as ``value`` (label), with the condition a choice's validator sets."""
    raw = spec.get("choices")
    if raw is None:
        return []
    if isinstance(raw, list):
        return [f"`{value}`" for value in raw]
    shown = []
    for label, value in raw.items():
        if isinstance(value, dict):
            condition = rules(
                "{% if x %}\n" + re.sub(r"\{%.*?%\}", "", value["validator"]), tuple(names)
            )
            condition = [rule.split("; e.g. ")[0] for rule in condition]
            extra = f"; {condition[0]}" if condition else ""
            shown.append(f"`{value['value']}` ({text(label)}{text(extra)})")
        else:
            shown.append(f"`{value}` ({text(label)})")
    return shown


def default(spec: dict[str, Any], names: list[str]) -> str:
    """The default: a literal, a short Jinja expression, or the questions it derives from."""
    value = spec.get("default")
    if value is None:
        return "none: asked"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    text = str(value)
    if text == "":
        return "empty"
    if "{{" not in text and "{%" not in text:
        return f"`{text}`"
    if len(text) <= SHORT and "{%" not in text:
        return f"`{text}`"
    used = [name for name in names if re.search(rf"\b{name}\b", text)]
    return "derived from " + ", ".join(f"`{name}`" for name in used) + " (see `copier.yml`)"


def condition(spec: dict[str, Any]) -> str | None:
    """When the question is asked, as its Jinja condition without the braces."""
    when = spec.get("when")
    if when is None or when is True:
        return None
    return (
        in_words(str(when))
        if "{{" not in str(when)
        else JINJA_EXPRESSION.sub(lambda m: m.group(1), str(when))
    )


def section(name: str, spec: dict[str, Any], names: list[str]) -> list[str]:
    """The Markdown of one question."""
    lines = [f"## `{name}`", "", text(str(spec.get("help", "")).strip()), ""]
    lines.append(f"- **type**: `{spec.get('type', 'str')}`")
    shown = choices(spec, names)
    if shown:
        lines.append("- **choices**: " + ", ".join(shown))
    lines.append(f"- **default**: {default(spec, names)}")
    if spec.get("placeholder"):
        lines.append(f"- **placeholder**: `{spec['placeholder']}`")
    asked = condition(spec)
    if asked:
        lines.append(f"- **asked when**: `{asked}`")
    validator = str(spec.get("validator", ""))
    found = rules(validator, tuple(names))
    if found:
        lines.append("- **rules** (a rejected answer gets this message):")
        lines += [f"    - {text(rule)}" for rule in found]
        valid = example(validator)
        if valid:
            lines.append(f"- **a valid answer**: `{valid}`")
    lines.append("")
    return lines


def render(path: Path = COPIER_YML) -> str:
    """The whole page."""
    found = questions(path)
    names = list(found)
    lines = [
        "# Question reference",
        "",
        "<!-- Generated by `python docs/questions.py` from copier.yml: edit copier.yml, then"
        " rerun it. tests/test_docs.py fails when this page is stale. -->",
        "",
        "Every answer can be given on the command line, `--data name=value` for Copier (see",
        "[Getting started](getting-started.md) for cookiecutter and cruft). No question asks",
        "for a secret: credentials are environment variables named by `auth_method`.",
        "",
        "| question | type | default |",
        "| --- | --- | --- |",
        *(
            f"| [`{name}`](#{name}) | `{spec.get('type', 'str')}` | {default(spec, names)} |"
            for name, spec in found.items()
        ),
        "",
    ]
    for name, spec in found.items():
        lines += section(name, spec, names)
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write the page, or with ``--check`` say whether it is current."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when the page is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not PAGE.is_file() or PAGE.read_text() != text:
            print(f"{PAGE.relative_to(ROOT)} is stale: run `python docs/questions.py`")
            return 1
        print(f"{PAGE.relative_to(ROOT)} is current")
        return 0
    PAGE.write_text(text)
    print(f"wrote {PAGE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
