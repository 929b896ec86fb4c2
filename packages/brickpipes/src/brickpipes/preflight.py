"""``brickpipes preflight``: check a workspace before the first run, and say how to fix it.

Run in the project's folder (``uv run brickpipes preflight``) before the first materialization
on a real workspace, and in CI with the deploy secrets. The environment checked is the one a
run in this shell would use (``BRICKPIPES_ENVIRONMENT``, ``DAGSTER_CLOUD_*``,
``BRICKPIPES_PULL_REQUEST``; ``--environment`` and ``--pull-request`` set them).

The checks are data (:data:`.preflight_checks.CHECKS`): each has a name, whether a failure
blocks runs, the checks it needs, and a function returning a :class:`Result` (PASS, FAIL,
WARN, INFO or SKIP, a message, and for a failure the exact fix: the SQL grant, the CLI
command, the setting). A check whose prerequisite did not pass is skipped, not run. The exit
code is 1 when a blocker fails, 2 when the project cannot be read, else 0.
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TextIO

from .environments import ENVIRONMENT_VARIABLE, PULL_REQUEST_VARIABLE

if TYPE_CHECKING:
    from databricks.sdk import WorkspaceClient

    from .environments import DatabricksEnvironment, Environment
    from .pipes import DatabricksPipes
    from .project import Project
    from .workspace import DatabricksWorkspace

Status = Literal["PASS", "FAIL", "WARN", "INFO", "SKIP"]
WIDTH = 80
INDENT = 6  # after "FAIL  "


class Sql(str):
    """A fix line that is a SQL statement (wrapped at spaces)."""


class Shell(str):
    """A fix line that is a shell command (wrapped with ``\\`` continuations)."""


@dataclass(frozen=True)
class Result:
    """What a check found: a status, one message (may hold several lines) and the fix."""

    status: Status
    message: str
    fix: Sequence[str] = ()

    @classmethod
    def passed(cls, message: str) -> Result:
        return cls("PASS", message)

    @classmethod
    def failed(cls, message: str, *fix: str) -> Result:
        return cls("FAIL", message, fix)

    @classmethod
    def warning(cls, message: str, *fix: str) -> Result:
        return cls("WARN", message, fix)


@dataclass
class Context:
    """What the checks share: the project, the variables, and what earlier checks learnt."""

    project: Project
    environ: Mapping[str, str]
    create: bool = False
    client: WorkspaceClient | None = None
    user_name: str = ""  # the identity's SCIM userName: its grant principal
    display_name: str = ""
    groups: tuple[str, ...] = ()
    service_principal: bool = False
    environment: Environment | None = None
    # The declared resources with their variables read: workspace, environment, pipes.
    resources: dict[str, Any] = field(default_factory=dict)
    # (securable type, full name) -> owner; a securable this identity will create, its own.
    owners: dict[tuple[str, str], str] = field(default_factory=dict)

    @property
    def principals(self) -> tuple[str, ...]:
        """Whom a grant to this identity may name: itself and its groups."""
        return (self.user_name, *self.groups)

    @property
    def workspace(self) -> DatabricksWorkspace:
        return self.resources["workspace"]

    @property
    def environment_resource(self) -> DatabricksEnvironment:
        return self.resources["environment"]

    @property
    def pipes(self) -> DatabricksPipes | None:
        return self.resources.get("pipes")

    @property
    def uses_volume(self) -> bool:
        """Whether Pipes runs put files in the environment's volume."""
        pipes = self.pipes
        return pipes is not None and (pipes.transport == "volumes" or pipes.compute == "serverless")

    @property
    def env(self) -> Environment:
        assert self.environment is not None, "the environment check runs first"
        return self.environment

    @property
    def api(self) -> WorkspaceClient:
        assert self.client is not None, "the credentials check runs first"
        return self.client


@dataclass(frozen=True)
class Check:
    """One check: its name, whether its failure blocks runs, the checks it needs to have
    passed (else it is skipped), and what it does."""

    name: str
    run: Callable[[Context], Result]
    blocker: bool = True
    needs: tuple[str, ...] = ()


def short_error(error: BaseException) -> str:
    """An SDK error's first line without the client configuration the SDK appends."""
    text = (str(error).splitlines() or [type(error).__name__])[0]
    return text.split(". Config: ")[0].strip() or type(error).__name__


def run_checks(
    checks: Sequence[Check], context: Context, out: TextIO = sys.stdout
) -> dict[str, Result]:
    """Run ``checks`` in order, printing each result; returns them by name."""
    results: dict[str, Result] = {}
    for check in checks:
        unmet = [n for n in check.needs if results.get(n, Result("SKIP", "")).status == "SKIP"]
        unmet += [n for n in check.needs if n in results and results[n].status == "FAIL"]
        if unmet:
            result = Result("SKIP", f"{check.name}: skipped, needs {', '.join(unmet)}")
        else:
            try:
                result = check.run(context)
            except Exception as error:  # a check's own bug or an unforeseen API answer
                result = Result.failed(
                    f"{check.name}: could not check: {type(error).__name__}: {short_error(error)}"
                )
        if result.status == "FAIL" and not check.blocker:
            result = Result("WARN", result.message, result.fix)
        results[check.name] = result
        out.write(render(result))
        out.flush()
    return results


def render(result: Result, width: int = WIDTH) -> str:
    """``result`` as lines of at most ``width`` columns: the status, the message, the fix."""
    lines: list[str] = []
    pad = " " * INDENT
    for index, paragraph in enumerate(result.message.splitlines() or [""]):
        first = f"{result.status:<{INDENT}}" if index == 0 else pad
        wrapped = textwrap.wrap(
            paragraph.strip(),
            width,
            initial_indent=first + " " * (len(paragraph) - len(paragraph.lstrip())),
            subsequent_indent=pad + "  " + " " * (len(paragraph) - len(paragraph.lstrip())),
            break_long_words=False,
            break_on_hyphens=False,
        )
        lines += wrapped or [first.rstrip()]
    if result.fix:
        lines.append(pad + "fix:")
    for fix in result.fix:
        if isinstance(fix, Shell):
            lines += wrap_shell(fix, width, pad + "  ")
        elif isinstance(fix, Sql):
            lines += textwrap.wrap(
                fix, width, initial_indent=pad + "  ", subsequent_indent=pad + "    ",
                break_long_words=False, break_on_hyphens=False,
            )  # fmt: skip
        else:
            lines += textwrap.wrap(
                fix, width, initial_indent=pad + "  ", subsequent_indent=pad + "  ",
                break_long_words=False, break_on_hyphens=False,
            )  # fmt: skip
    return "\n".join(line.rstrip() for line in lines) + "\n"


def wrap_shell(command: str, width: int, indent: str) -> list[str]:
    """``command`` on lines of at most ``width``: words joined with ``\\`` continuations; a
    single-quoted word (JSON) too long for a line is broken at its spaces, inside the quotes
    (a newline there is JSON whitespace, and the shell keeps it)."""
    lines, line = [], indent
    for word in _shell_words(command):
        if line == indent:
            line += word
        elif len(line) + len(word) + 3 <= width:
            line += " " + word
        else:
            lines.append(line + " \\")
            line = indent + "  " + word
    lines.append(line)
    result: list[str] = []
    quotes = 0  # single quotes on the lines before: odd inside a quoted word
    for text in lines:
        while len(text) > width:
            start = len(text) - len(text.lstrip())
            cut = text.rfind(" ", start, width)
            if cut <= start or (quotes + text[:cut].count("'")) % 2 == 0:
                break  # no space inside quotes to break at
            result.append(text[:cut])
            quotes += text[:cut].count("'")
            text = " " * (len(indent) + 4) + text[cut + 1 :]
        result.append(text)
        quotes += text.count("'")
    return result


def _shell_words(command: str) -> list[str]:
    """Words of ``command``, a single-quoted part (with its spaces) being one word."""
    words, current, quoted = [], "", False
    for char in command:
        if char == "'":
            quoted = not quoted
        if char == " " and not quoted:
            if current:
                words.append(current)
            current = ""
            continue
        current += char
    if current:
        words.append(current)
    return words


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    """The command's arguments."""
    parser.add_argument(
        "--environment",
        choices=("production", "development"),
        help=f"check this environment (sets {ENVIRONMENT_VARIABLE}; default: as a run would)",
    )
    parser.add_argument(
        "--pull-request",
        metavar="N",
        help=f"check pull request N's branch environment (sets {PULL_REQUEST_VARIABLE})",
    )
    parser.add_argument(
        "--create",
        action="store_true",
        help="create a missing schema and volume (development and branch environments only)",
    )
    parser.add_argument(
        "--project", metavar="DIR", default=".", help="the project's folder (default: .)"
    )


def main(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run every check on the project in ``args.project``; the exit code."""
    from .preflight_checks import CHECKS
    from .project import Project, ProjectError

    out = out or sys.stdout
    environ = dict(os.environ)
    if getattr(args, "environment", None):
        environ[ENVIRONMENT_VARIABLE] = args.environment
    if getattr(args, "pull_request", None):
        environ[PULL_REQUEST_VARIABLE] = str(args.pull_request)
    try:
        project = Project.load(getattr(args, "project", "."))
        project.environment  # noqa: B018 - fails early, naming what the definitions lack
    except (ProjectError, ImportError, ValueError) as error:
        out.write(render(Result.failed(f"project: {error}")))
        return 2
    out.write(f"brickpipes preflight: {project.root.name}\n")
    context = Context(project, environ, create=bool(getattr(args, "create", False)))
    results = run_checks(CHECKS, context, out)
    return summary(results, out)


def summary(results: Mapping[str, Any], out: TextIO) -> int:
    """Print the tally; 1 when a blocker failed."""
    counts = {s: sum(r.status == s for r in results.values()) for s in ("FAIL", "WARN", "SKIP")}
    if counts["FAIL"]:
        out.write(
            f"\n{counts['FAIL']} failed, {counts['WARN']} warning(s), {counts['SKIP']} skipped.\n"
            "Fix the failures above, then run `brickpipes preflight` again.\n"
        )
        return 1
    tail = f" ({counts['WARN']} warning(s))" if counts["WARN"] else ""
    out.write(f"\nReady: runs in this environment have what they need{tail}.\n")
    return 0
