"""Copier migrations to 0.2.0 and 0.3.0 (``_migrations``, ``version: ...``): report what of the
team's own code still uses an old layout, which no update can move.

* 0.2.0 moved the vendored ``tools/local-databricks/`` into the package ``local-databricks`` and
  the test wiring from ``scripts/run_local.py`` into ``local_databricks.project``.
* 0.3.0 moved the Databricks runtime (``src/<package>/databricks/``, ``components.py``,
  ``script_stub.py``) into the package ``brickpipes``, the test wiring into
  ``brickpipes.testing``, bundle deploys into ``local_databricks.bundle``, and remote scripts
  open Pipes with ``brickpipes_remote.open_pipes``.
* 0.4.0 gave each environment its own schema, volume and upload folder
  (``brickpipes.DatabricksEnvironment``): names fixed at render time (an example's
  ``table_name("t")``, ``FILES_ROOT``, a resource's ``code_path``/``volume_path``) now come from
  the run's environment.

Copier merges the template's files; the team's own files (their assets, tests, scripts, docs)
may still import the old modules. Rewriting them blindly could break them (signatures
changed), so this lists each line with what replaces it, and changes nothing. Each version's
check runs once, after an update that crosses it (Copier compares the release versions):
``report_old_layout.py <version>``. Lock files are never reported: the next ``uv sync``
relocks them.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

ANSWERS_FILE = ".copier-answers.yml"
# Generated or template-owned lists of names, not the team's code.
SKIPPED_NAMES = (ANSWERS_FILE, "uv.lock", "poetry.lock", "requirements.lock")
# What replaces each module of the 0.2.0 runtime folder (CHANGELOG.md, 0.3.0, "Upgrading").
RUNTIME_MODULES = {
    "workspace": "from brickpipes import DatabricksWorkspace (AUTH_METHODS too)",
    "pipes": "from brickpipes import DatabricksPipes, RemoteTask, DatabricksRunFailed",
    "jobs": "from brickpipes import DatabricksJobs, materialize_job_assets",
    "clusters": "from brickpipes import load_profiles; brickpipes.clusters.get_profile(path, name)",
    "uploads": "from brickpipes import upload_file (scripts: brickpipes.uploads.upload_script)",
    "deploy": "tests and local runs: local_databricks.bundle (load_bundle, deploy_bundle); "
    "the code location only names the job (DatabricksJobs.run_now(context, name))",
}


def checks(version: str, package: str) -> list[tuple[re.Pattern[str], str]]:
    """(pattern, replacement) of the layout that ``version`` left behind."""
    if version == "0.2.0":
        return [
            (
                re.compile(r"^\s*(from run_local import|import run_local\b)"),
                "import it from local_databricks.project (fast_resources, select_assets, ...)",
            ),
            (
                re.compile(re.escape("tools/local-databricks")),
                "local-databricks is a dev dependency now (pyproject.toml [tool.uv.sources])",
            ),
        ]
    if version == "0.4.0":
        return [
            (
                re.compile(r"\btable_name\(\s*[\"'f]"),
                "table_name(databricks_pipes, table): the table in the run's environment "
                "(databricks_pipes.current_environment().table(name))",
            ),
            (
                re.compile(r"\bFILES_ROOT\b"),
                "files_root(databricks_pipes): the examples' folder of the run's environment",
            ),
            (
                re.compile(r"\.code_path\b|\b(code_path|volume_path)\s*="),
                "DatabricksPipes(environment=...) derives them; at run time "
                "databricks_pipes.code_folder() and volume_folder()",
            ),
        ]
    runtime = rf"(?:\b{re.escape(package)}|(?<![\w.])\.*)\.databricks\.(\w+)"
    return [
        (re.compile(runtime), ""),  # the replacement depends on the module: see replacement()
        (
            re.compile(rf"\b{re.escape(package)}\.components\b"),
            "brickpipes.DatabricksPipesScript (defs.yaml: type: brickpipes.DatabricksPipesScript)",
        ),
        (
            re.compile(
                r"\blocal_databricks\.project import .*\b(fast_resources|select_assets|"
                r"run_cli|activate|materialize|use_local_auth|project_environment)\b"
            ),
            "import it from brickpipes.testing (local_environment replaces project_environment)",
        ),
        (
            re.compile(r"""\["path"\]\.startswith\(["']/Volumes/["']\)"""),
            "from brickpipes_remote import open_pipes; with open_pipes() as context: ... "
            "(the runner names the transport)",
        ),
    ]


# What every project crossing a version must do, whatever its code: printed once.
NOTICES = {
    "0.4.0": (
        "migration 0.4.0: environments. A run is production only where declared:\n"
        "  Dagster+'s `prod` deployment, or BRICKPIPES_ENVIRONMENT=production (set it\n"
        "  where the image runs in production outside Dagster+). Anything else writes\n"
        "  its own schema (<schema>_dev_<you>, <schema>_pr_<n>) and runs its own jobs\n"
        "  ('[dev <you>] ...'): run `databricks bundle deploy` once more for yours,\n"
        "  then `uv run brickpipes preflight`."
    ),
}


def replacement(pattern: re.Pattern[str], text: str, line: str) -> str:
    """``text``, or for a runtime module import the module's own replacement."""
    if text:
        return text
    match = pattern.search(line)
    module = match.group(1) if match else ""
    return RUNTIME_MODULES.get(module, f"brickpipes.{module} (an internal module of the runtime)")


def tracked_files(project: Path) -> list[str]:
    """The project's tracked files and its new untracked ones (git-ignored ones left out)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return sorted(name for name in listed.split("\0") if name)


def package_name(project: Path) -> str:
    """The project's import name, from its answers file."""
    answers = yaml.safe_load((project / ANSWERS_FILE).read_text(encoding="utf-8")) or {}
    return str(answers.get("package_name", ""))


def old_usages(project: Path, version: str) -> list[tuple[str, int, str, str]]:
    """(file, line number, line, what replaces it) for every use of the layout ``version``
    replaced, in the team's files."""
    package = package_name(project)
    found_checks = checks(version, package)
    # Kept files of a moved folder are listed by remove_dropped_files.py already.
    moved = ("tools/local-databricks/", f"src/{package}/databricks/")
    found = []
    for name in tracked_files(project):
        if name.startswith(moved) or Path(name).name in SKIPPED_NAMES:
            continue
        try:
            lines = (project / name).read_text(encoding="utf-8").splitlines()
        except (UnicodeDecodeError, OSError):  # binary or unreadable: nothing to report
            continue
        for number, line in enumerate(lines, start=1):
            for pattern, text in found_checks:
                if pattern.search(line):
                    found.append((name, number, line.strip(), replacement(pattern, text, line)))
                    break
    return found


def main() -> int:
    """Print the team's lines that still use the old layout; never fail the update."""
    version = sys.argv[1] if len(sys.argv) > 1 else "0.2.0"
    previous = {"0.2.0": "0.1.0", "0.3.0": "0.2.0", "0.4.0": "0.3.0"}[version]
    if version in NOTICES:
        print(NOTICES[version])
    usages = old_usages(Path.cwd(), version)
    if usages:
        print(
            f"migration {version}: these lines of yours still use the {previous} layout, which"
            f" the update cannot move (see CHANGELOG.md, {version}, 'Upgrading'):"
        )
        for name, number, line, text in usages:
            print(f"  ! {name}:{number}: {line}\n      -> {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
