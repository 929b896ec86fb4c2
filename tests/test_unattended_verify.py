"""A failed post-copy verification fails the run where nobody reads it, and keeps the project
for a person: Copier, cookiecutter and cruft alike (hooks/post_copy.py).

A `uv` that fails (as offline) on PATH fails verify.py's first check in a few seconds.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from answers import EVERY_ANSWER
from frontends import SKIP_VERIFY

# Every question answered, so that a copy without --defaults asks nothing.
ANSWERS = EVERY_ANSWER
STRICT = "COPIER_DAGSTER_DATABRICKS_STRICT_VERIFY"
FAILED_KEPT = "verification FAILED; the project was kept as rendered"
FAILED_EXIT = "verification FAILED; exiting 1 because"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """No CI variable, verification on, a uv that fails, cookiecutter's files kept here."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "uv").write_text("#!/bin/sh\necho 'uv: offline' >&2\nexit 1\n")
    (bin_dir / "uv").chmod(0o755)
    config = tmp_path / "cookiecutter.yaml"
    config.write_text(
        f"cookiecutters_dir: {tmp_path / 'clones'}\nreplay_dir: {tmp_path / 'replay'}\n"
    )
    drop = {"CI", STRICT, *SKIP_VERIFY}
    clean = {k: v for k, v in os.environ.items() if k not in drop}
    return {
        **clean,
        "PATH": f"{bin_dir}{os.pathsep}{clean['PATH']}",
        "COOKIECUTTER_CONFIG": str(config),
    }


def copier(
    template: Path, dst: Path, env: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    data = [arg for name, value in ANSWERS.items() for arg in ("--data", f"{name}={value}")]
    command = [sys.executable, "-m", "copier", "copy", "--trust", *data, *args]
    return subprocess.run(
        [*command, str(template), str(dst)], env=env, capture_output=True, text=True
    )


def test_copier_with_defaults_fails_the_run(
    template_repo: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    dst = tmp_path / "p"
    result = copier(template_repo, dst, env, "--defaults")
    assert result.returncode != 0, result.stderr
    assert f"{FAILED_EXIT} no question was asked (--defaults / --no-input)" in result.stderr
    assert "`copier copy --no-cleanup`" in result.stderr
    assert not dst.exists()  # Copier's cleanup after a failed task


def test_copier_no_cleanup_keeps_the_failed_project(
    template_repo: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    dst = tmp_path / "p"
    result = copier(template_repo, dst, env, "--defaults", "--no-cleanup")
    assert result.returncode != 0
    assert FAILED_EXIT in result.stderr
    assert (dst / "scripts" / "verify.py").is_file()


def test_copier_in_ci_fails_the_run(
    template_repo: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    result = copier(template_repo, tmp_path / "p", {**env, "CI": "true"})
    assert result.returncode != 0
    assert f"{FAILED_EXIT} the CI environment variable is set" in result.stderr


def test_copier_for_a_person_keeps_the_project_and_succeeds(
    template_repo: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    dst = tmp_path / "p"
    result = copier(template_repo, dst, {**env, "CI": "false"})
    assert result.returncode == 0, result.stderr
    assert FAILED_KEPT in result.stderr
    assert f"rerun: cd {dst} && python scripts/verify.py" in result.stderr
    assert (dst / "scripts" / "verify.py").is_file()


@pytest.mark.parametrize(("value", "fails"), [("0", False), ("1", True)])
def test_strict_variable_decides(
    template_repo: Path, tmp_path: Path, env: dict[str, str], value: str, fails: bool
) -> None:
    args = ("--defaults",) if value == "0" else ()  # each overrides what it would be
    result = copier(template_repo, tmp_path / "p", {**env, STRICT: value}, *args)
    assert (result.returncode != 0) == fails, result.stderr
    assert (FAILED_EXIT if fails else FAILED_KEPT) in result.stderr
    assert (tmp_path / "p").exists() != fails


def cookiecutter(
    template: Path, out: Path, env: dict[str, str], *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "cookiecutter", *args, str(template)]
    command += ["project_name=Sales Analytics"] if "--no-input" in args else []
    return subprocess.run(command, cwd=out, env=env, input=stdin, capture_output=True, text=True)


def test_cookiecutter_no_input_fails_the_run(
    template_repo: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    result = cookiecutter(template_repo, tmp_path, env, "--no-input")
    assert result.returncode != 0
    assert f"{FAILED_EXIT} no question was asked" in result.stderr
    assert not (tmp_path / "sales-analytics").exists()
    kept = tmp_path / "kept"
    kept.mkdir()
    result = cookiecutter(template_repo, kept, env, "--no-input", "--keep-project-on-failure")
    assert result.returncode != 0
    assert (kept / "sales-analytics" / "scripts" / "verify.py").is_file()


def test_cookiecutter_for_a_person_keeps_the_project(
    template_repo: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    """Every question answered with Enter (its default), as a person would."""
    result = cookiecutter(template_repo, tmp_path, env, stdin="Sales Analytics\n" + "\n" * 40)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert FAILED_KEPT in result.stderr
    assert (tmp_path / "sales-analytics" / "scripts" / "verify.py").is_file()


def test_cruft_no_input_fails_and_with_input_keeps(
    template_repo: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    command = [sys.executable, "-m", "cruft", "create", str(template_repo)]
    quiet = tmp_path / "quiet"
    quiet.mkdir()
    result = subprocess.run(
        [*command, "--no-input", "--extra-context", '{"project_name": "Sales Analytics"}'],
        cwd=quiet,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert FAILED_EXIT in result.stdout + result.stderr
    asked = tmp_path / "asked"
    asked.mkdir()
    result = subprocess.run(
        command,
        cwd=asked,
        env=env,
        input="Sales Analytics\n" + "\n" * 40,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert FAILED_KEPT in result.stdout + result.stderr
    assert (asked / "sales-analytics" / "scripts" / "verify.py").is_file()
