"""The Databricks bundle schema a generated project validates its bundle against.

The reference is the Databricks CLI's own (`databricks bundle schema`, CLI v1.13), kept beside
this repository in ../shared/reference/. Renders get it without its annotations (descriptions,
launch stages, editor hints: 900 KB down to about 240 KB), which validation never reads, and
with its patterns in Python's regular expressions (the CLI's are Go's, with \\p{L} classes).

    python tests/bundle_schema.py    # rewrite template/tests/schemas/ from the reference
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT.parent / "shared" / "reference" / "databricks-bundle-schema.json"
SHIPPED = ROOT / "template" / "tests" / "schemas" / "databricks-bundle-schema.json"
# JSON Schema annotations and the CLI's editor hints; no validation keyword among them.
ANNOTATIONS = {
    "description",
    "markdownDescription",
    "deprecationMessage",
    "doNotSuggest",
    "enumDescriptions",
    "markdownEnumDescriptions",
    "x-databricks-launch-stage",
    "x-since-version",
}


def strip_annotations(node: Any) -> Any:
    """``node`` without annotations. A property *named* like one (a job's ``description``) maps
    to a schema, a dict, so only non-dict values are dropped."""
    if isinstance(node, dict):
        return {
            key: strip_annotations(value)
            for key, value in node.items()
            if not (key in ANNOTATIONS and not isinstance(value, dict))
        }
    if isinstance(node, list):
        return [strip_annotations(item) for item in node]
    return node


# Go's Unicode classes, as Python's re spells them: letters or digits, then letters.
UNICODE_CLASSES = ((r"[\p{L}\p{N}]", r"[^\W_]"), (r"\p{L}", r"[^\W\d_]"))


def python_patterns(node: Any) -> Any:
    """``node`` with every ``pattern`` in Python's syntax; an unknown Go class is an error."""
    if isinstance(node, dict):
        found = {key: python_patterns(value) for key, value in node.items()}
        if isinstance(found.get("pattern"), str):
            for go, python in UNICODE_CLASSES:
                found["pattern"] = found["pattern"].replace(go, python)
            if "\\p{" in found["pattern"]:
                raise ValueError(f"a pattern has a Go class to translate: {found['pattern']}")
        return found
    if isinstance(node, list):
        return [python_patterns(item) for item in node]
    return node


def shipped_text(reference: dict[str, Any]) -> str:
    """The shipped schema's exact text: stripped, translated, one line, sorted keys."""
    schema = python_patterns(strip_annotations(reference))
    return json.dumps(schema, sort_keys=True, separators=(",", ":")) + "\n"


if __name__ == "__main__":
    SHIPPED.parent.mkdir(parents=True, exist_ok=True)
    SHIPPED.write_text(shipped_text(json.loads(REFERENCE.read_text())))
    print(f"wrote {SHIPPED.relative_to(ROOT)} ({SHIPPED.stat().st_size} bytes)")
