"""Prepare a template release: `uvx nox -s release -- X.Y.Z` (or `python tools/release.py X.Y.Z`).

From a clean tree, on a branch:

1. CHANGELOG.md: the "## Unreleased" section becomes "## X.Y.Z (YYYY-MM-DD)", its "Upgrading"
   note included, under a new, empty "## Unreleased"; pyproject.toml's version becomes X.Y.Z.
   Committed as "Release X.Y.Z", and that commit is tagged X.Y.Z (annotated).
2. releases.yml: the entry for X.Y.Z naming that commit, committed on top.

Two commits because a commit cannot name its own hash. The tag and the recorded commit are the
same one, the tree users render; the second commit changes only releases.yml, which is outside
the template's `_subdirectory`, so a project rendered from either commit is the same. Nothing is
pushed: `git push origin HEAD X.Y.Z` publishes the release.

Standard library only, so it runs in any interpreter (nox's own, with no session install).
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import subprocess
import sys
from pathlib import Path

VERSION = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
UNRELEASED = "## Unreleased"


class ReleaseError(Exception):
    """A precondition of the release does not hold; the message says what to do."""


def git(repo: Path, *args: str) -> str:
    """Run git in ``repo``; its stdout, stripped. A failure raises ReleaseError with git's words."""
    result = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)
    if result.returncode != 0:
        raise ReleaseError(f"git {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout.strip()


def parse_version(text: str) -> tuple[int, int, int]:
    """``X.Y.Z`` as a tuple of ints; anything else is refused with an example."""
    match = VERSION.match(text)
    if match is None:
        raise ReleaseError(f"version must be MAJOR.MINOR.PATCH, e.g. 0.2.0; got {text!r}")
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def released_versions(releases: str) -> list[str]:
    """The versions releases.yml lists, in file order (oldest first)."""
    return re.findall(r'^- version: "([^"]+)"$', releases, flags=re.MULTILINE)


def check_clean(repo: Path) -> None:
    """The tree has no change, staged or not, and no untracked file; HEAD is on a branch."""
    status = git(repo, "status", "--porcelain", "--untracked-files=normal")
    if status:
        lines = status.splitlines()
        shown = "\n  ".join(lines[:10]) + ("\n  ..." if len(lines) > 10 else "")
        raise ReleaseError(
            "the working tree is not clean: commit or remove these first "
            f"(a release is cut from committed files only):\n  {shown}"
        )
    branch = subprocess.run(["git", "symbolic-ref", "-q", "HEAD"], cwd=repo, capture_output=True)
    if branch.returncode != 0:
        raise ReleaseError("HEAD is detached: switch to the branch to release, e.g. main")


def check_version(repo: Path, version: str, releases: str) -> None:
    """The version is new: above every recorded release, and not yet a tag."""
    known = released_versions(releases)
    if version in known:
        raise ReleaseError(f"{version} is already in releases.yml")
    if known and parse_version(version) <= max(map(parse_version, known)):
        latest = max(known, key=parse_version)
        raise ReleaseError(f"{version} is not newer than the latest release {latest}")
    tag = subprocess.run(
        ["git", "rev-parse", "-q", "--verify", f"refs/tags/{version}"],
        cwd=repo,
        capture_output=True,
    )
    if tag.returncode == 0:
        raise ReleaseError(f"tag {version} exists already: `git tag -d {version}` if it is stale")


def changelog_with_release(changelog: str, version: str, date: str) -> str:
    """CHANGELOG.md with its Unreleased section turned into the section of ``version``."""
    lines = changelog.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.rstrip() == UNRELEASED]
    if len(starts) != 1:
        raise ReleaseError(
            f"CHANGELOG.md needs exactly one {UNRELEASED!r} heading; found {len(starts)}"
        )
    start = starts[0]
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    body = lines[start + 1 : end]
    if not any(line.startswith("- ") for line in body):
        raise ReleaseError(
            f"CHANGELOG.md's {UNRELEASED!r} has no entry: nothing to release. Add one, e.g.\n"
            "  ### Fixed\n  - Update tests cover every release."
        )
    heading = [f"{UNRELEASED}\n", "\n", f"## {version} ({date})\n"]
    return "".join(lines[:start] + heading + body + lines[end:])


def pyproject_with_version(pyproject: str, version: str) -> str:
    """The repository's pyproject.toml with its [project] version set to ``version``."""
    new, count = re.subn(
        r'(\[project\]\n(?:(?!\[).*\n)*?version = ")[^"]*(")', rf"\g<1>{version}\2", pyproject
    )
    if count != 1:
        raise ReleaseError('pyproject.toml has no [project] version = "..." line to set')
    return new


def release(repo: Path, version: str, date: str, notes: str | None) -> str:
    """Cut ``version`` in ``repo`` (see the module docstring); return the release commit."""
    parse_version(version)
    check_clean(repo)
    releases = (repo / "releases.yml").read_text()
    check_version(repo, version, releases)
    changelog = changelog_with_release((repo / "CHANGELOG.md").read_text(), version, date)
    pyproject = pyproject_with_version((repo / "pyproject.toml").read_text(), version)

    (repo / "CHANGELOG.md").write_text(changelog)
    (repo / "pyproject.toml").write_text(pyproject)
    git(
        repo,
        "commit",
        "--quiet",
        "-m",
        f"Release {version}",
        "--",
        "CHANGELOG.md",
        "pyproject.toml",
    )
    commit = git(repo, "rev-parse", "HEAD")
    git(repo, "tag", "--annotate", version, "-m", f"Release {version}", commit)

    entry = f'- version: "{version}"\n  commit: {commit}\n'
    if notes:
        entry += f"  notes: {' '.join(notes.split())}\n"
    (repo / "releases.yml").write_text(releases.rstrip("\n") + "\n" + entry)
    message = f"releases.yml: {version} is commit {commit[:7]} (tag {version})"
    git(repo, "commit", "--quiet", "-m", message, "--", "releases.yml")
    return commit


def main(argv: list[str] | None = None) -> int:
    """Command line: the version, then optional --date, --notes and --repo."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("version", help="the new release, MAJOR.MINOR.PATCH, e.g. 0.2.0")
    parser.add_argument("--date", default=dt.datetime.now(dt.UTC).date().isoformat())
    parser.add_argument("--notes", help="one line for releases.yml: what the release changed")
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parent.parent)
    args = parser.parse_args(argv)
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", args.date):
        print(
            f"release: --date must be YYYY-MM-DD, e.g. 2026-12-01; got {args.date!r}",
            file=sys.stderr,
        )
        return 2
    try:
        commit = release(args.repo.resolve(), args.version, args.date, args.notes)
    except ReleaseError as error:
        print(f"release: {error}", file=sys.stderr)
        return 1
    print(f"release: {args.version} tagged at {commit[:7]}, recorded in releases.yml.")
    print(f"release: publish it with `git push origin HEAD {args.version}`.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
