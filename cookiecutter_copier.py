"""Jinja extension of the cookiecutter and cruft front ends (cookiecutter.json ``_extensions``).

Cookiecutter renders this template through its hooks, which hand the answers to Copier's own
engine (hooks/pre_gen_project.py). The hooks run in a child process and see neither the
template checkout being rendered nor the command rendering it; cookiecutter renders each hook
as a Jinja template first, in the parent process, with the checkout as the working directory.
This extension gives that render one global, ``copier_bridge()``, which records both.

Cookiecutter and cruft put the template's root on ``sys.path`` while they render, which is
how this module is found.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from jinja2 import Environment
from jinja2.ext import Extension

# cruft renders the template again to compute a diff (`cruft update`, `cruft diff`): such
# renders are compared and thrown away, never verified.
CRUFT_DIFF_RENDER = ("cruft._commands.utils.generate", "cookiecutter_template")


# The calls that hold the command's --no-input: cookiecutter's, and `cruft create`'s.
NO_INPUT_CALLS = {("cookiecutter.main", "cookiecutter"), ("cruft._commands.create", "create")}


def copier_bridge() -> dict[str, Any]:
    """The template checkout being rendered, whether cruft renders it only for a diff, and
    whether the command asks no question (``--no-input``: nobody may read a failure)."""
    frame = sys._getframe(1)
    diff_render = False
    no_input = None
    while frame is not None:
        call = (frame.f_globals.get("__name__"), frame.f_code.co_name)
        if call == CRUFT_DIFF_RENDER:
            diff_render = True
        if call in NO_INPUT_CALLS and no_input is None and "no_input" in frame.f_locals:
            no_input = bool(frame.f_locals["no_input"])
        frame = frame.f_back
    return {"template": os.getcwd(), "diff_render": diff_render, "no_input": bool(no_input)}


class HookFailureWithoutTraceback(logging.Filter):
    """Cookiecutter logs a failed hook with its own traceback, after the hook's message (a
    rejected answer: Copier's validator message). The traceback says nothing the message does
    not: this keeps cookiecutter's line ("Stopping generation because ...") without it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and type(record.exc_info[1]).__name__ == "FailedHookException":
            record.exc_info = None
            record.exc_text = None
        return True


class CopierBridge(Extension):
    """Adds the ``copier_bridge()`` global to cookiecutter's Jinja environment, and drops the
    traceback of a failed hook from cookiecutter's log."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.globals["copier_bridge"] = copier_bridge
        hooks_log = logging.getLogger("cookiecutter.hooks")
        if not any(isinstance(f, HookFailureWithoutTraceback) for f in hooks_log.filters):
            hooks_log.addFilter(HookFailureWithoutTraceback())
