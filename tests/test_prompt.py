"""The interactive prompt offers no impossible combination: a real `copier copy` in a pty.

Every question but ``cloud`` and ``auth_method`` is answered with ``--data``; the test then
picks a cloud with the arrow keys and moves down the auth methods as a user would. With AWS
the Azure service principal is shown disabled with its reason and the cursor skips it; with
Azure it is the third choice and is recorded.
"""

from __future__ import annotations

import io
import os
import re
import sys
from pathlib import Path

import pexpect
import pytest
import yaml
from answers import EVERY_ANSWER


def pty_available() -> bool:
    """Whether this platform can open a pseudo-terminal."""
    try:
        leader, follower = os.openpty()
    except (AttributeError, OSError):
        return False
    os.close(leader)
    os.close(follower)
    return True


pytestmark = pytest.mark.skipif(
    not pty_available() or not hasattr(pexpect, "spawn"),
    reason="no pseudo-terminal here: Copier's interactive prompt cannot be driven",
)

DOWN, ENTER = "\x1b[B", "\r"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# Every answer but the two this test chooses with the arrow keys.
OTHER_ANSWERS = {k: v for k, v in EVERY_ANSWER.items() if k not in ("cloud", "auth_method")}
AZURE_CHOICE = "Azure service principal secret (ARM_*)"


def choose(template_repo: Path, dst: Path, cloud_downs: int, auth_downs: int) -> tuple[str, str]:
    """Answer cloud and auth_method with arrow keys; return the screen and the auth_method."""
    args = ["-m", "copier", "copy", "--skip-tasks", "--quiet"]
    for name, value in OTHER_ANSWERS.items():
        args += ["--data", f"{name}={value}"]
    screen = io.StringIO()
    env = {**os.environ, "TERM": "xterm-256color", "PROMPT_TOOLKIT_NO_CPR": "1"}
    child = pexpect.spawn(
        sys.executable,
        [*args, str(template_repo), str(dst)],
        env=env,
        dimensions=(50, 200),
        encoding="utf-8",
        timeout=60,
    )
    child.logfile_read = screen
    try:
        child.expect("Google Cloud")  # the cloud list is drawn: the prompt reads keys now
        child.send(DOWN * cloud_downs + ENTER)
        child.expect("Databricks config profile")
        child.send(DOWN * auth_downs + ENTER)
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0, ANSI.sub("", screen.getvalue())
    answers = yaml.safe_load((dst / ".copier-answers.yml").read_text())
    return ANSI.sub("", screen.getvalue()), answers["auth_method"]


def test_aws_shows_azure_client_secret_disabled_and_skips_it(
    template_repo: Path, tmp_path: Path
) -> None:
    screen, auth_method = choose(template_repo, tmp_path / "p", cloud_downs=0, auth_downs=2)
    assert f"{AZURE_CHOICE} (needs Azure, not aws; e.g. pat)" in screen
    # pat, oauth-m2m, then the cursor jumps over the disabled choice to profile.
    assert auth_method == "profile"


def test_azure_offers_azure_client_secret(template_repo: Path, tmp_path: Path) -> None:
    screen, auth_method = choose(template_repo, tmp_path / "p", cloud_downs=1, auth_downs=2)
    assert AZURE_CHOICE in screen
    assert "needs Azure" not in screen
    assert auth_method == "azure-client-secret"
