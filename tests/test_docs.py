"""The docs site: the question reference matches copier.yml, `mkdocs build --strict` passes,
and the screenshot script skips, saying why, where Chromium is missing."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def load(name: str) -> ModuleType:
    """A script of docs/ as a module (docs/ is no package)."""
    spec = importlib.util.spec_from_file_location(f"docs_{name}", DOCS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_question_reference_is_current() -> None:
    """docs/questions.md is what docs/questions.py writes from the copier.yml on disk."""
    questions = load("questions")
    assert (DOCS / "questions.md").read_text() == questions.render(), (
        "docs/questions.md is stale: run `python docs/questions.py` and commit it"
    )


def test_question_reference_covers_every_question() -> None:
    """Every visible question of copier.yml has a section; hidden answers have none."""
    questions = load("questions")
    found = questions.questions()
    page = (DOCS / "questions.md").read_text()
    assert {"project_name", "auth_method", "include_examples"} <= set(found)
    assert "dagster_version" not in found  # a pin of versions.yml (when: false)
    for name in found:
        assert f"## `{name}`" in page


def test_validator_rules_read_as_words(tmp_path: Path) -> None:
    """A validator's branches become its rules; the answer quoted back is left out."""
    questions = load("questions")
    copier_yml = tmp_path / "copier.yml"
    copier_yml.write_text(
        "name:\n"
        "  type: str\n"
        "  help: A name\n"
        "  default: abc\n"
        "  validator: |-\n"
        "    {% if not (name | regex_search('^[a-z]+$')) %}\n"
        "    must be lowercase letters, e.g. sales\n"
        "    Letters a-z only; got {{ name | to_json }}.\n"
        "    {% elif name | length > 9 %}\n"
        "    must be at most 9 letters, e.g. sales\n"
        "    Got {{ name | length }}.\n"
        "    {% endif %}\n"
        "hidden:\n"
        "  type: str\n"
        "  default: x\n"
        "  when: false\n"
    )
    page = questions.render(copier_yml)
    assert "    - must be lowercase letters (letters a-z only)\n" in page
    assert "    - must be at most 9 letters\n" in page
    assert "- **a valid answer**: `sales`" in page
    assert "hidden" not in page and "to_json" not in page


def test_every_page_is_in_the_nav() -> None:
    """No page of docs/ is left out of mkdocs.yml's nav, and the nav names no missing page."""
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    nav = {page for entry in config["nav"] for page in entry.values()}
    pages = {path.name for path in DOCS.glob("*.md")}
    assert pages == nav, f"pages not in nav: {pages - nav}; nav without page: {nav - pages}"


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    """The site builds with every warning an error (broken links, images and anchors)."""
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        # Without it Material prints a notice about its successor on every build.
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "questions" / "index.html").is_file()
    assert (tmp_path / "images" / "asset-graph.png").is_file()
    assert not list(tmp_path.rglob("*.py")), "the docs' scripts are not part of the site"


def test_screenshots_skip_without_chromium(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """With no Chromium the script says why and what to install, exits 0, writes nothing."""
    screenshots = load("screenshots")
    monkeypatch.setenv("CHROMIUM", str(tmp_path / "no-such-chromium"))
    assert screenshots.main(["--out", str(tmp_path / "images")]) == 0
    out = capsys.readouterr().out
    assert "screenshots skipped: no Chromium found" in out
    assert "apt-get install -y chromium" in out
    assert not (tmp_path / "images").exists()


def test_screenshots_are_committed() -> None:
    """The pictures the docs show exist, are PNGs, and are pictures of a real size."""
    for name in ("asset-graph.png", "asset-databricks-metadata.png"):
        data = (DOCS / "images" / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", name
        width, height = int.from_bytes(data[16:20]), int.from_bytes(data[20:24])
        assert width >= 800 and height >= 600, (name, width, height)


def test_screenshots_commands_are_linked_from_the_generated_readme() -> None:
    """The generated README says how to reproduce the pictures."""
    readme = (ROOT / "template" / "README.md.jinja").read_text()
    assert "nox -s screenshots" in readme
