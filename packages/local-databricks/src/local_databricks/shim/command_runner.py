"""One execution context of the Command Execution API: a persistent Python namespace.

argv: [command_runner.py, <driver log file>]. Requests arrive on stdin as JSON lines
``{"id", "command"}``; answers go to the original stdout as JSON lines: ``{"event": "ready"}``
once, then ``{"id", "event": "started"}`` and ``{"id", "event": "done", "results", "cancelled"}``
per command. File descriptors 1 and 2 point at the driver log (output of subprocesses, as on a
driver); what a command prints with Python goes into its result, followed by the value of a last
expression statement. ``dbutils.notebook.exit(value)`` ends a command with ``value`` as its text.
SIGINT cancels the running command.
"""

import ast
import contextlib
import io
import json
import os
import sys
import textwrap
import traceback

from local_databricks_dbutils import NotebookExit

_FILENAME = "<command>"
# [assumption] the result of a cancelled command
_CANCELLED = {
    "resultType": "error",
    "summary": "Command cancelled",
    "cause": "CommandCancelledException: the command was cancelled.",
}


def _error(exc):
    """The service's error result: an HTML-tagged summary and the traceback as the cause."""
    name = type(exc).__name__
    summary = f"<span class='ansi-red-fg'>{name}</span>: {exc}"
    tb = exc.__traceback__
    # skip the runner's own frames: the traceback starts in the command
    while tb is not None and tb.tb_frame.f_code.co_filename != _FILENAME:
        tb = tb.tb_next
    cause = "".join(traceback.format_exception(type(exc), exc, tb))
    return {"resultType": "error", "summary": summary, "cause": cause}


def _run(source, namespace):
    """(results, cancelled) of one command."""
    out = io.StringIO()
    try:
        tree = ast.parse(textwrap.dedent(source), _FILENAME, "exec")
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            exec(compile(tree, _FILENAME, "exec"), namespace)
            if last is not None:
                value = eval(compile(last, _FILENAME, "eval"), namespace)
                if value is not None:
                    print(repr(value))
    except NotebookExit as exc:
        return {"resultType": "text", "data": "" if exc.value is None else str(exc.value)}, False
    except KeyboardInterrupt:
        return _CANCELLED, True
    except BaseException as exc:  # the command's own error is its result, the context lives on
        return _error(exc), False
    return {"resultType": "text", "data": out.getvalue()}, False


def main():
    """Serve commands until stdin closes."""
    answers = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    requests = os.fdopen(os.dup(0), "r", encoding="utf-8")
    log = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    from dbruntime import UserNamespaceInitializer

    namespace = {"__name__": "__main__"}
    namespace.update(UserNamespaceInitializer.getOrCreate().get_namespace_globals())
    answers.write(json.dumps({"event": "ready"}) + "\n")
    while True:
        try:
            line = requests.readline()
        except KeyboardInterrupt:  # a cancel that came after its command ended
            continue
        if not line:
            return 0
        request = None
        try:
            request = json.loads(line)
            answers.write(json.dumps({"id": request["id"], "event": "started"}) + "\n")
            results, cancelled = _run(request["command"], namespace)
        except KeyboardInterrupt:
            if request is None:
                continue
            results, cancelled = _CANCELLED, True
        answer = {"id": request["id"], "event": "done", "results": results}
        answer["cancelled"] = cancelled
        answers.write(json.dumps(answer) + "\n")


if __name__ == "__main__":
    sys.exit(main())
