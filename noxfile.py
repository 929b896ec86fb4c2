"""Sessions of the template repository. `uvx nox -s tests` is what CI runs.

- ``tests``: the whole suite (renders, validators, updates, toolchains) and the tests of the
  packages under ``packages/`` (local-databricks, brickpipes), each run once, against the
  package, at the newest databricks-sdk.
- ``sdk_oldest``: brickpipes' tests at the oldest databricks-sdk it supports, beside
  dagster-databricks (its protocol tests, and local-databricks' upstream round trips).
- ``min_copier``: the static and update tests with the oldest supported Copier.
- ``min_cookiecutter``: the cookiecutter and cruft tests with the oldest supported cookiecutter.
- ``compare_cookiecutter``: render the pairwise matrix through ``copier copy`` and cookiecutter
  and print every difference (docs/front-ends.md).
- ``demo``: render the defaults into a folder and verify it (``uvx nox -s demo -- DIR``).
- ``bench``: benchmark figures, as ratios against baselines measured in the same run.
- ``lint``: ruff on the template repository's own code.
- ``wheels``: build the packages' wheels into ``dist/``, for teams that publish them to an
  internal index instead of installing them from this repository.
- ``docs``: regenerate the question reference and build the docs site into ``site/``
  (``uvx nox -s docs -- serve`` previews it at http://127.0.0.1:8000).
- ``screenshots``: the docs' pictures of the Dagster UI, into ``docs/images/`` (needs the
  distribution's Chromium; says so and skips without it).
- ``release``: prepare release X.Y.Z (``uvx nox -s release -- X.Y.Z``): changelog section,
  tag, releases.yml entry (tools/release.py).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import nox

ROOT = Path(__file__).parent
PYPROJECT = nox.project.load_toml(ROOT / "pyproject.toml")
PACKAGES = ROOT / "packages"
LOCAL_DATABRICKS = PACKAGES / "local-databricks"
BRICKPIPES = PACKAGES / "brickpipes"
WHEELS = ROOT / ".nox" / "wheels"
# pyspark (a dev dependency of the Spark example, and of dagster-databricks) is an sdist only.
# uv builds it for every new project here (about 15 s and 1.4 GB of cache each time), so the
# suite builds the wheels once and hands them to every render through UV_FIND_LINKS. A cache
# warmer, not a pin: a version not listed here is simply built by uv as before. 4.2.1 is the
# last for Python 3.10.
PREBUILT = ("pyspark==4.3.0", "pyspark==4.2.1")

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "uv"
nox.options.sessions = ["lint", "tests", "sdk_oldest", "min_copier", "min_cookiecutter"]
os.environ.setdefault("UV_PYTHON_DOWNLOADS", "never")


def pinned(name: str) -> str:
    """Read one pin from versions.yml, the single source of the generated project's versions."""
    text = (ROOT / "versions.yml").read_text()
    match = re.search(rf'^{name}:\n(?:  .*\n)*?  default: "([^"]+)"', text, re.MULTILINE)
    if match is None:
        raise ValueError(f"versions.yml has no default for {name}")
    return match.group(1)


def runtime_requirements(*sdk: str) -> list[str]:
    """What generated projects run with (the packages editable), for the packages' tests;
    ``sdk`` replaces the databricks-sdk range (e.g. its oldest release)."""
    return [
        f"dagster=={pinned('dagster_version')}",
        f"dagster-pipes=={pinned('dagster_pipes_version')}",
        *(sdk or [pinned("databricks_sdk_spec")]),
        pinned("pyspark_spec"),
        "-e",
        str(LOCAL_DATABRICKS),
        "-e",
        str(BRICKPIPES),
    ]


def prebuilt_wheels(session: nox.Session) -> dict[str, str]:
    """Build the sdist-only wheels once (cached in .nox/wheels); return the env that uses them."""
    WHEELS.mkdir(parents=True, exist_ok=True)
    missing = [
        spec for spec in PREBUILT if not list(WHEELS.glob(f"{spec.replace('==', '-')}-*.whl"))
    ]
    if missing:
        session.install("pip")
    for spec in missing:  # one at a time: pip resolves a command's requirements together
        wheel = ["python", "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir"]
        session.run(*wheel, str(WHEELS), spec)
    return {"UV_FIND_LINKS": str(WHEELS)}


def ruff() -> str:
    """The generated project's ruff, so the suite lints renders exactly as projects do."""
    return f"ruff=={pinned('ruff_version')}"


def workers(session: nox.Session) -> str:
    """pytest-xdist workers: one per core unless overridden with NOX_WORKERS."""
    return os.environ.get("NOX_WORKERS") or str(os.cpu_count() or 2)


@nox.session(python="3.11")
def tests(session: nox.Session) -> None:
    """Run the template's suite; extra arguments go to pytest (e.g. `-- -m "not toolchain"`)."""
    env = prebuilt_wheels(session)
    session.install(
        *nox.project.dependency_groups(PYPROJECT, "test"),
        ruff(),
        *runtime_requirements(),
        env=env,
    )
    session.run("pytest", "-n", workers(session), "--dist", "loadgroup", *session.posargs, env=env)


@nox.session(python="3.11")
def sdk_oldest(session: nox.Session) -> None:
    """brickpipes' tests at the oldest databricks-sdk it supports, with dagster-databricks
    installed (the protocol tests against upstream's client run here, and local-databricks'
    round trips through dagster-databricks)."""
    env = prebuilt_wheels(session)
    oldest = f"databricks-sdk=={pinned('databricks_sdk_oldest')}"
    upstream = f"dagster-databricks=={pinned('dagster_databricks_version')}"
    session.install(
        "pytest", "pytest-xdist", "pyyaml", *runtime_requirements(oldest, upstream), env=env
    )
    session.run("python", "-c", "import databricks.sdk.version as v; print('sdk', v.__version__)")
    session.run(
        "pytest",
        "-n",
        workers(session),
        "-p",
        "no:cacheprovider",
        "packages/brickpipes/tests",
        "packages/local-databricks/tests/test_ld_pipes.py",
        *session.posargs,
        env=env,
    )


@nox.session(python="3.11")
def min_copier(session: nox.Session) -> None:
    """Render, validate and update with the oldest Copier that copier.yml allows."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "min-copier"), ruff())
    session.run(
        "pytest",
        "-n",
        workers(session),
        "-m",
        "not toolchain",
        "tests/test_render_static.py",
        "tests/test_validators.py",
        "tests/test_update.py",
        "tests/test_migrations.py",
        *session.posargs,
    )


@nox.session(python="3.11")
def min_cookiecutter(session: nox.Session) -> None:
    """The cookiecutter and cruft front ends with the oldest supported cookiecutter (the
    pairwise parity runs in ``tests``, with the pinned one)."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "min-cookiecutter"))
    session.run(
        "pytest",
        "-n",
        workers(session),
        "-m",
        "not toolchain",
        # The hooks, prompts, extension and cruft as the old cookiecutter runs them; the bad
        # answers once per kind of check (all of them run in `tests`).
        "-k",
        "not pairwise and (not bad_answer or json or class or Requests or azure)",
        "tests/test_cookiecutter.py",
        "tests/test_cruft.py",
        *session.posargs,
    )


@nox.session(python="3.11")
def compare_cookiecutter(session: nox.Session) -> None:
    """Render every pairwise answer set through `copier copy` and through cookiecutter; print
    each difference (the answers files aside) and fail if there is one."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "test"))
    session.run("python", "tests/frontends.py", *session.posargs)


def demo_python(session: nox.Session) -> tuple[str, str]:
    """The default python_version (3.12) if this machine has it, else the newest supported
    version it has: uv may not download interpreters here."""
    sys.path.insert(0, str(ROOT / "tests"))
    from pythons import find_python

    for version in ("3.12", "3.13", "3.11", "3.10"):
        python = find_python(version)
        if python is not None:
            return version, python
    session.error("demo: no Python 3.10-3.13 found on PATH or in pyenv")
    raise AssertionError("unreachable")


@nox.session(python="3.11")
def demo(session: nox.Session) -> None:
    """Render the defaults into DIR (default ./demo-project), verify it, then materialize every
    example asset through local Databricks and print their metadata and the API calls made."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "test"))
    target = Path(session.posargs[0] if session.posargs else ROOT / "demo-project").resolve()
    if target.exists():
        shutil.rmtree(target)
    version, python = demo_python(session)
    session.run(
        "copier",
        "copy",
        "--skip-tasks",
        "--defaults",
        "--quiet",
        "--data",
        "project_name=Demo Project",
        "--data",
        f"python_version={version}",
        str(ROOT),
        str(target),
    )
    # The project's own environment, not this session's (nox points these at its own venv).
    project_env = {"VIRTUAL_ENV": None, "UV_PROJECT_ENVIRONMENT": None, "UV_PYTHON": python}
    with session.chdir(target):
        session.run("python", "scripts/verify.py", external=True, env=project_env)
        session.run(
            "uv",
            "run",
            "--no-sync",
            "python",
            "scripts/run_local.py",
            external=True,
            env=project_env,
        )
    session.log(f"Rendered, verified and materialized through local Databricks: {target}")


@nox.session(python="3.11")
def bench(session: nox.Session) -> None:
    """Print benchmark figures as ratios against baselines measured in the same run."""
    env = prebuilt_wheels(session)
    session.install(*nox.project.dependency_groups(PYPROJECT, "test"))
    session.run("python", "benchmarks/bench.py", *session.posargs, env=env)


@nox.session(python="3.11")
def docs(session: nox.Session) -> None:
    """Regenerate docs/questions.md from copier.yml, then `mkdocs build --strict` (or `serve`)."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "docs"))
    session.run("python", "docs/questions.py")
    env = {"NO_MKDOCS_2_WARNING": "1"}  # Material's notice about its successor, every build
    if session.posargs[:1] == ["serve"]:
        session.run("mkdocs", "serve", "--strict", *session.posargs[1:], env=env)
    else:
        session.run("mkdocs", "build", "--strict", *session.posargs, env=env)


@nox.session(python="3.11")
def screenshots(session: nox.Session) -> None:
    """Render the defaults, materialize them through local Databricks, and screenshot `dg dev`
    with headless Chromium into docs/images/ (`-- --project DIR` reuses a render)."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "screenshots"))
    env = prebuilt_wheels(session)  # the render syncs pyspark from the prebuilt wheel
    session.run("python", "docs/screenshots.py", *session.posargs, env=env)


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """Lint and format-check the template repository's own Python (hooks, tests, noxfile)."""
    session.install(ruff())
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python="3.11")
def wheels(session: nox.Session) -> None:
    """Build a wheel of each package under packages/ into dist/ (or the folder given)."""
    target = Path(session.posargs[0] if session.posargs else ROOT / "dist").resolve()
    for package in sorted(p for p in PACKAGES.iterdir() if (p / "pyproject.toml").is_file()):
        session.run("uv", "build", "--wheel", "--out-dir", str(target), str(package), external=True)
    session.log(f"Wheels in {target}: publish them to your index (see a project's pyproject.toml)")


@nox.session(venv_backend="none")
def release(session: nox.Session) -> None:
    """Prepare release X.Y.Z from a clean tree: `uvx nox -s release -- 0.2.0 [--notes TEXT]`.
    The CHANGELOG's Unreleased becomes the X.Y.Z section, that commit is tagged and recorded
    in releases.yml (tools/release.py says why two commits). Nothing is pushed."""
    if not session.posargs:
        session.error("release: name the version, e.g. `uvx nox -s release -- 0.2.0`")
    session.run(sys.executable, str(ROOT / "tools" / "release.py"), *session.posargs)
