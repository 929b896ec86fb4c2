"""The cookiecutter front end renders what `copier copy` renders, validated by copier.yml.

cookiecutter.json is generated from copier.yml (hooks/cookiecutter_json.py); the hooks hand
the answers to Copier's engine (docs/front-ends.md). Here: the generated file is current, no
input gives Copier's defaults, every bad answer gets Copier's message with nothing written,
the pairwise matrix renders byte-identically, and the post-generation verification runs as
`copier copy --trust` does.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from answers import case_id, pairwise_matrix
from cookiecutter.exceptions import FailedHookException
from frontends import SKIP_VERIFY, compare, cookiecutter_render, differences, isolate_cookiecutter
from pythons import find_python
from rendering import ROOT, project_env, render
from test_validators import BAD_ANSWERS, BAD_CHOICES

sys.path.insert(0, str(ROOT / "hooks"))
import cookiecutter_json

PLACEHOLDER = cookiecutter_json.PLACEHOLDER


@pytest.fixture(autouse=True)
def _skip_verify(
    monkeypatch: pytest.MonkeyPatch, template_repo: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Renders here are not verified (one test turns it back on), cookiecutter finds the
    template's Jinja extension as its CLI does (the template root on sys.path), and its replay
    files and clones stay out of the home folder."""
    isolate_cookiecutter(monkeypatch, tmp_path_factory)
    monkeypatch.syspath_prepend(str(template_repo))


def copier_answers(project: Path) -> dict[str, Any]:
    """A Copier render's answers, Copier's own keys left out."""
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    return {k: v for k, v in answers.items() if not k.startswith("_")}


def cookiecutter_answers(template: Path, data: dict[str, Any]) -> dict[str, Any]:
    """The answers `cookiecutter --no-input` gives for ``data``, private keys left out."""
    from cookiecutter.generate import generate_context
    from cookiecutter.prompt import prompt_for_config

    context = generate_context(str(template / "cookiecutter.json"), extra_context=data)
    answers = prompt_for_config(context, no_input=True)
    return {k: v for k, v in answers.items() if not k.startswith("_")}


def test_cookiecutter_json_is_generated_from_copier_yml() -> None:
    expected = cookiecutter_json.cookiecutter_json((ROOT / "copier.yml").read_text())
    assert (ROOT / "cookiecutter.json").read_text() == expected, (
        "cookiecutter.json is stale: run `python hooks/cookiecutter_json.py` and commit it"
    )


def test_every_visible_question_is_a_cookiecutter_variable() -> None:
    visible = cookiecutter_json.questions((ROOT / "copier.yml").read_text())
    generated = yaml.safe_load((ROOT / "cookiecutter.json").read_text())
    assert [k for k in generated if not k.startswith("_")] == list(visible)
    for name, spec in visible.items():
        if "choices" in spec:  # cookiecutter's default is a choice list's first item
            assert generated[name][0] == spec["default"], name


def test_a_question_cookiecutter_cannot_carry_is_refused_by_name() -> None:
    text = "_subdirectory: template\n---\nretries:\n  type: int\n  default: 3\n"
    with pytest.raises(ValueError, match="retries is a int question"):
        cookiecutter_json.cookiecutter_json(text)


@pytest.mark.parametrize(
    "data",
    [
        {"project_name": "Sales Analytics"},
        {"project_name": "Données Pipeline", "compute": "serverless"},
        {"project_name": "Straße Œuvre Æble Łódź", "catalog": "analytics"},
        {"project_name": "Æ" * 80},
        {"project_name": "データ パイプライン", "project_slug": "data-pipeline"},
    ],
    ids=lambda d: d["project_name"][:12],
)
def test_no_input_gives_the_answers_of_copier_defaults(
    template_repo: Path, tmp_path: Path, data: dict[str, Any]
) -> None:
    expected = copier_answers(render(template_repo, tmp_path / "copier", data))
    found = cookiecutter_answers(template_repo, data)
    # Copier keeps a question that does not apply out of its answers file; cookiecutter asks
    # every question, and the answer changes nothing (test_unasked_question_changes_nothing).
    assert {k: v for k, v in found.items() if k in expected} == expected
    assert set(found) - set(expected) <= {"pipes_transport", "pipes_volume"}


def test_unasked_question_changes_nothing(template_repo: Path, tmp_path: Path) -> None:
    """pipes_transport does not apply to serverless: whatever cookiecutter got, same output."""
    volumes = cookiecutter_render(template_repo, tmp_path / "a", {"compute": "serverless"})
    data = {"compute": "serverless", "pipes_transport": "dbfs"}
    dbfs = cookiecutter_render(template_repo, tmp_path / "b", data)
    assert differences(volumes, dbfs) == []


def copier_message(template: Path, dst: Path, data: dict[str, Any]) -> str:
    """Copier's whole message for a rejected answer."""
    with pytest.raises(ValueError, match=r"Validation error|Invalid choice") as error:
        render(template, dst, data)
    return str(error.value)


@pytest.mark.parametrize(("data", "first_line"), BAD_ANSWERS, ids=lambda v: str(v)[:40])
def test_bad_answer_gets_copiers_message_and_nothing_is_written(
    template_repo: Path,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    data: dict[str, Any],
    first_line: str,
) -> None:
    message = copier_message(template_repo, tmp_path / "copier", data)
    assert first_line in message
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(FailedHookException):
        cookiecutter_render(template_repo, out, data)
    assert message in capfd.readouterr().err
    assert not any(out.iterdir())


@pytest.mark.parametrize(("data", "message"), BAD_CHOICES, ids=lambda v: str(v)[:40])
def test_bad_choice_is_refused_by_cookiecutter_before_any_file(
    template_repo: Path, tmp_path: Path, data: dict[str, Any], message: str
) -> None:
    """A value outside a choice list never reaches Copier: cookiecutter refuses it first, with
    its own message naming the question and listing the choices."""
    ((name, value),) = data.items()
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(ValueError, match=rf"{value} provided for choice variable {name}") as error:
        cookiecutter_render(template_repo, out, data)
    choices = yaml.safe_load((ROOT / "cookiecutter.json").read_text())[name]
    assert str(choices) in str(error.value)
    assert not any(out.iterdir())


@pytest.mark.parametrize("case", pairwise_matrix(), ids=case_id)
def test_pairwise_render_is_byte_identical_to_copier(
    template_repo: Path, tmp_path: Path, case: dict[str, Any]
) -> None:
    assert compare(template_repo, tmp_path, case) == []


def cli(template: Path, out: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """The cookiecutter CLI, no input, from ``out``."""
    command = [sys.executable, "-m", "cookiecutter", "--no-input", str(template), *args]
    return subprocess.run(command, cwd=out, env=env, capture_output=True, text=True)


def test_failed_verification_keeps_the_project_and_names_the_command(
    template_repo: Path, tmp_path: Path
) -> None:
    """A uv that fails (as offline) fails verify.py's first check: with the strict variable
    off the project stays though --no-input (tests/test_unattended_verify.py: the defaults)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "uv").write_text("#!/bin/sh\necho 'uv: offline' >&2\nexit 1\n")
    (bin_dir / "uv").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in SKIP_VERIFY}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    env["COPIER_DAGSTER_DATABRICKS_STRICT_VERIFY"] = "0"
    out = tmp_path / "out"
    out.mkdir()
    result = cli(template_repo, out, env, "project_name=Sales Analytics")
    output = result.stdout + result.stderr
    project = out / "sales-analytics"
    assert result.returncode == 0, output
    assert "post-copy: verifying" in output
    assert "verify: check 'install (uv sync)' failed" in output
    assert "verification FAILED; the project was kept as rendered" in output
    assert f"rerun: cd {project} && python scripts/verify.py" in output
    assert (project / "scripts" / "verify.py").is_file()
    assert not (project / PLACEHOLDER).exists()


def test_verification_opt_out(template_repo: Path, tmp_path: Path) -> None:
    env = {**os.environ, **SKIP_VERIFY}
    result = cli(template_repo, tmp_path, env, "project_name=Sales Analytics")
    assert result.returncode == 0, result.stderr
    assert "verification skipped; run `python scripts/verify.py`" in result.stdout
    assert not (tmp_path / "sales-analytics" / ".venv").exists()


def test_without_hooks_only_the_placeholder_explains(template_repo: Path, tmp_path: Path) -> None:
    result = cli(template_repo, tmp_path, dict(os.environ), "--accept-hooks", "no")
    assert result.returncode == 0, result.stderr
    (project,) = tmp_path.iterdir()
    assert [p.name for p in project.iterdir()] == [PLACEHOLDER]
    assert "--accept-hooks no" in (project / PLACEHOLDER).read_text()


@pytest.mark.toolchain
def test_default_render_passes_verify_through_the_post_gen_hook(
    template_repo: Path, tmp_path: Path
) -> None:
    """The one toolchain run of this front end: the hook runs verify.py for real."""
    python = find_python("3.12")
    if python is None:
        pytest.skip("Python 3.12 (the default python_version) is not installed here")
    env = {k: v for k, v in project_env(python).items() if k not in SKIP_VERIFY}
    result = cli(template_repo, tmp_path, env, "project_name=Sales Analytics")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "verify: all checks passed" in output, output[-3000:]
    assert "FAILED" not in output


def test_a_bad_answer_ends_with_the_message_not_a_traceback(
    template_repo: Path, tmp_path: Path
) -> None:
    result = cli(template_repo, tmp_path, dict(os.environ), "project_name=1st")
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "Validation error for question 'project_name': \"1st\": letter first" in output
    assert "Traceback" not in output, output
    assert "Hook script failed (exit status: 1)" in result.stdout
    assert not any(tmp_path.iterdir())
