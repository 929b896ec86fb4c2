"""`GET /api/2.x/jobs/runs/export`: a notebook task run exported as HTML views.

The CODE view is one self-contained HTML page with the notebook's source and what the run
printed (and its `dbutils.notebook.exit` value) [assumption: the service's page embeds the
notebook model for its viewer; this one is plain HTML]. Notebooks have no dashboards here, so
DASHBOARDS exports no view.
"""

from __future__ import annotations

import html
from pathlib import PurePosixPath

from .errors import ApiError, invalid
from .executor import read_tail
from .paths import Storage
from .routing import Request, Router
from .runs import TERMINAL, TaskRun
from .scheduling import RunManager

VIEWS = ("CODE", "DASHBOARDS", "ALL")


class RunExportService:
    """Exports notebook task runs (handlers over the run manager and storage)."""

    def __init__(self, manager: RunManager, storage: Storage) -> None:
        self.manager = manager
        self.storage = storage

    def register(self, router: Router) -> None:
        """Add the runs/export route (API 2.0, 2.1 and 2.2)."""
        router.add("GET", r"/api/2\.[012]/jobs/runs/export", self.export)

    def _task(self, run_id: int) -> TaskRun:
        found = self.manager.find(run_id)
        if found is None:
            raise invalid(f"Run {run_id} does not exist.")
        run, task = found
        if task is None:
            current = run.current()
            if len(current) != 1:
                raise invalid(
                    f"Run {run_id} has {len(current)} tasks: export the run of one task "
                    "(its run_id in runs/get `tasks`)."
                )
            task = current[0]
        if "notebook_task" not in task.spec:
            raise invalid(f"Run {run_id} is not a notebook task run: only notebooks are exported.")
        return task

    def export(self, req: Request) -> dict:
        """GET runs/export?run_id=&views_to_export=CODE|DASHBOARDS|ALL -> {views}."""
        run_id = req.int_param("run_id", required=True)
        views = req.str_param("views_to_export", "CODE") or "CODE"
        if views not in VIEWS:
            raise invalid(
                f"Invalid value for field 'views_to_export': {views!r} is not one of "
                f"{', '.join(VIEWS)}."
            )
        with self.manager.cond:
            task = self._task(run_id)
            if task.life not in TERMINAL:
                raise ApiError(
                    400,
                    "INVALID_STATE",
                    f"Run {run_id} has not finished: it cannot be exported yet.",
                )
            path = task.spec["notebook_task"]["notebook_path"]
            output = dict(task.output)
            workdir = task.workdir
        if views == "DASHBOARDS":
            return {"views": []}
        name = PurePosixPath(path).name
        return {"views": [{"content": self._page(path, output, workdir), "name": name,
                           "type": "NOTEBOOK"}]}  # fmt: skip

    def _page(self, path: str, output: dict, workdir) -> str:
        try:
            local = self.storage.task_file(path)
        except ApiError:
            local = None
        if local is not None and not local.is_file():
            local = local.with_name(local.name + ".py")
        source = ""
        if local is not None and local.is_file():
            source = local.read_text(encoding="utf-8", errors="replace")
        printed = read_tail(workdir / "logs" / "stdout")[0] if workdir is not None else ""
        result = (output.get("notebook_output") or {}).get("result")
        parts = [
            "<!DOCTYPE html>",
            '<html><head><meta charset="utf-8">',
            f"<title>{html.escape(PurePosixPath(path).name)}</title></head><body>",
            f"<h1>{html.escape(path)}</h1>",
            f'<pre class="source">{html.escape(source)}</pre>',
            f'<h2>Output</h2><pre class="output">{html.escape(printed)}</pre>',
        ]
        if result is not None:
            parts.append(f'<h2>Result</h2><pre class="result">{html.escape(result)}</pre>')
        if output.get("error"):
            parts.append(f'<h2>Error</h2><pre class="error">{html.escape(output["error"])}</pre>')
        parts.append("</body></html>")
        return "\n".join(parts)
