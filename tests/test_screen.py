"""Every message of the prompt is readable at 80 columns: a real `copier copy` in tmux.

tmux draws the prompt as a terminal of 80x24 would. The test walks the questions with the bad
answers a new user types (the issue's among them), and after each one reads the screen: the
validator's first line, after Copier's "Validation error for question '<name>': ", must be a
whole screen line, uncut. It then answers every question, with the workspace URL as copied
from the browser, and reads the help lines, the choices and the closing message: none is cut
or wrapped by the terminal.

tmux is not needed anywhere else: without it (CI machines have Python, Java and git only)
this module is skipped and says why.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import time
import unicodedata
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from rendering import ROOT, render

TMUX = shutil.which("tmux")
pytestmark = pytest.mark.skipif(
    TMUX is None,
    reason="tmux is not installed: the 80-column screen test draws the prompt in tmux "
    "(apt-get install tmux)",
)

WIDTH, HEIGHT = 80, 24
BROWSER_URL = "https://adb-1234567890123456.7.azuredatabricks.net/?o=1234567890123456"
HOST = "https://adb-1234567890123456.7.azuredatabricks.net"
# The bad answers a user types, per text question, in the prompt's order; then a good one.
BAD_TYPED: list[tuple[str, list[str], str]] = [
    ("project_name", ["", "1st project", "x" * 81, 'Say "hi"', "sales/analytics"], "Sales"),
    ("project_slug", ["", "Sales", "sales_analytics", "sales--analytics"], "sales"),
    (
        "package_name",
        ["", "1sales", "a" * 40, "sales-analytics", "nonlocal", "dagster_pipes", "tomllib"],
        "sales",
    ),
    ("description", ["", "x" * 201], "Sales tables"),
    ("author_name", ["", "x" * 101, "Ann <ann@example.com>", "Ann, Bob"], "Data Team"),
    ("author_email", ["not-an-email", "ann@localhost"], "ann@example.com"),
    (
        "databricks_host",
        [
            "http://dbc-1.cloud.databricks.com",
            "https://me:x@dbc-1.cloud.databricks.com",
            "https://dbc_1.cloud.databricks.com",
            "https://",
        ],
        BROWSER_URL,
    ),
    ("catalog", ["", "Main", "1st", "main-2"], "main"),
    ("schema", ["", "Sales", "sales-data"], "sales"),
    (
        "pipes_volume",
        ["/Volumes/main/sales", "/Volumes/main/sales/pipes/", "/Volumes/ops/s/p"],
        "/Volumes/main/sales/p",
    ),
]
QUESTION_ORDER = [
    "project_name",
    "project_slug",
    "package_name",
    "description",
    "author_name",
    "author_email",
    "python_version",
    "cloud",
    "databricks_host",
    "auth_method",
    "compute",
    "pipes_transport",
    "catalog",
    "schema",
    "pipes_volume",
    "ci",
    "deploy",
    "include_examples",
]


def columns(text: str) -> int:
    """Terminal columns of ``text`` (East Asian wide characters and emoji take two)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


class Screen:
    """One command in a detached tmux session of its own server, read as a screen."""

    def __init__(self, command: list[str], cwd: Path) -> None:
        self.socket = f"copier-screen-{uuid.uuid4().hex[:8]}"
        env = "env PROMPT_TOOLKIT_NO_CPR=1 TERM=xterm-256color LANG=C.UTF-8"
        # The pane stays after the command ends, so its last screen can still be read.
        self.tmux(
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            "main",
            "-x",
            str(WIDTH),
            "-y",
            str(HEIGHT),
            "-c",
            str(cwd),
            f"{env} {shlex.join(command)}",
        )
        self.tmux("set-option", "-t", "main", "remain-on-exit", "on")
        self.tmux("set-option", "-t", "main", "history-limit", "5000")

    def tmux(self, *args: str) -> str:
        result = subprocess.run(
            [str(TMUX), "-L", self.socket, *args], capture_output=True, text=True, check=True
        )
        return result.stdout

    def lines(self, *, history: bool = False, joined: bool = False) -> list[str]:
        """The screen's lines (with ``history``, from the first one scrolled away)."""
        args = ["capture-pane", "-p", "-t", "main"]
        args += ["-S", "-"] if history else []
        args += ["-J"] if joined else []
        lines = [line.rstrip() for line in self.tmux(*args).splitlines()]
        lines = [line for line in lines if not line.startswith("Pane is dead")]
        while lines and not lines[-1]:
            lines.pop()
        return lines

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-t", "main", "C-u")  # clear what the prompt holds
        # An edit is what runs the validator: an empty answer is typed as x, then erased.
        self.tmux("send-keys", "-t", "main", "-l", text or "x")
        if not text:
            self.tmux("send-keys", "-t", "main", "BSpace")

    def key(self, name: str) -> None:
        self.tmux("send-keys", "-t", "main", name)

    def wait_for(self, line: str, timeout: float = 30) -> None:
        """Wait until ``line`` is a whole line of the screen."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if line in self.lines():
                return
            time.sleep(0.1)
        screen = "\n".join(self.lines())
        pytest.fail(f"never on the screen as a whole line:\n{line!r}\nscreen:\n{screen}")

    def wait_for_choice(self, title: str, timeout: float = 30) -> None:
        """Wait until a choice is drawn whole: its line ends with ``title``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(
                line.endswith(f"  {title}")
                or line.endswith(f"» {title}")
                or line.endswith(f"🎤 {title}")
                for line in self.lines()
            ):
                return
            time.sleep(0.1)
        pytest.fail(f"choice never drawn whole: {title!r}\n" + "\n".join(self.lines()))

    def wait_until_dead(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.tmux("display-message", "-p", "-t", "main", "#{pane_dead}").strip() == "1":
                return
            time.sleep(0.2)
        pytest.fail("copier did not end:\n" + "\n".join(self.lines()))

    def close(self) -> None:
        subprocess.run([str(TMUX), "-L", self.socket, "kill-server"], capture_output=True)


@pytest.fixture
def screen(template_repo: Path, tmp_path: Path) -> Iterator[Screen]:
    command = [sys.executable, "-m", "copier", "copy", "--skip-tasks"]
    shown = Screen([*command, str(template_repo), str(tmp_path / "p")], tmp_path)
    try:
        yield shown
    finally:
        shown.close()


def first_line(template_repo: Path, dst: Path, name: str, value: str) -> str:
    """The first line of the message a `--data` render gives for ``value`` (prefix included)."""
    with pytest.raises(ValueError, match="Validation error") as error:
        render(template_repo, dst, {name: value})
    return str(error.value).splitlines()[0]


def choice_lines(spec: dict[str, Any]) -> list[str]:
    """Each choice as the select prompt draws it, a disabled one with its reason (the walk
    answers cloud with its default, aws)."""
    choices = spec.get("choices")
    if spec.get("type") == "bool":
        return ["(Y/n)"]
    if not isinstance(choices, dict):
        return [str(choice) for choice in choices or []]
    return [
        f"- {title} (needs Azure, not aws; e.g. pat)" if isinstance(value, dict) else title
        for title, value in choices.items()
    ]


def questions() -> dict[str, dict[str, Any]]:
    return yaml.safe_load((ROOT / "copier.yml").read_text().split("\n---\n")[-1])


def test_every_message_is_read_whole_at_80_columns(
    screen: Screen, template_repo: Path, tmp_path: Path
) -> None:
    expected = {
        (name, value): first_line(template_repo, tmp_path / f"r{i}-{j}", name, value)
        for i, (name, bad, _) in enumerate(BAD_TYPED)
        for j, value in enumerate(bad)
    }
    typed = {name: (bad, good) for name, bad, good in BAD_TYPED}
    specs = questions()
    read = []
    for name in QUESTION_ORDER:
        help_line = f"🎤 {specs[name]['help']}"
        assert columns(help_line) < WIDTH, help_line
        screen.wait_for(help_line)
        if name not in typed:
            for title in choice_lines(specs[name]):
                assert columns(title) < WIDTH, title
                screen.wait_for_choice(title)
            screen.key("Enter")  # the default choice
            continue
        bad, good = typed[name]
        for value in bad:
            screen.type(value)
            line = expected[(name, value)]
            assert columns(line) <= WIDTH, line
            screen.wait_for(line)
            read.append(line)
        screen.type(good)
        screen.key("Enter")
    screen.wait_until_dead()
    transcript = screen.lines(history=True)
    # Nothing the terminal had to wrap: joining wrapped lines changes nothing.
    assert screen.lines(history=True, joined=True) == transcript
    assert len(read) == sum(len(bad) for _, bad, _ in BAD_TYPED)
    # The closing message, wrapped at words: the workspace URL whole, saying what was kept.
    text = " ".join(transcript)
    assert f"Workspace URL: kept only the host, {HOST}, of {BROWSER_URL} (for" in text
    for url in (HOST, BROWSER_URL):  # each URL whole on one line
        assert any(re.search(rf"(^|\s){re.escape(url)}[,.]?(\s|$)", line) for line in transcript)
    assert "  uv run python scripts/run_local.py  # every asset, through local Databricks" in (
        transcript
    )
    assert (
        yaml.safe_load((tmp_path / "p" / ".copier-answers.yml").read_text())["databricks_host"]
        == BROWSER_URL
    )
    env_example = (tmp_path / "p" / ".env.example").read_text()
    assert f"DATABRICKS_HOST={HOST}\n" in env_example
