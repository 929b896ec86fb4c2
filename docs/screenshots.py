"""Take the docs' screenshots of the Dagster UI: `uvx nox -s screenshots` runs this.

What it does, from nothing to PNGs under docs/images/:

1. renders the template's defaults (``project_name=Sales Analytics``) into a folder, or reuses a
   rendered project given with ``--project``, and syncs it (``uv sync``);
2. materializes every example asset through local Databricks with the project's own
   ``scripts/run_local.py``, recording the runs in a ``DAGSTER_HOME`` of its own;
3. starts ``dg dev`` on that ``DAGSTER_HOME`` and waits until the code location has loaded;
4. drives the distribution's headless Chromium with Playwright (``executable_path``: Playwright
   downloads no browser here) to the asset graph and to the page of the example table (the
   asset whose materialization has a table, columns, a Databricks run URL and a check:
   ``main/sales_analytics/cleaned_orders``); Dagster's first-run pop-up is dismissed.

Without Chromium (``apt-get install -y chromium``), or without Playwright, it says so and
exits 0 without touching docs/images/. ``python docs/screenshots.py --help`` lists the options.
The same file runs inside the rendered project's environment for step 2 (``--materialize``),
so that step uses the project's dependencies, not this session's.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import runpy
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "docs" / "images"
WHEELS = ROOT / ".nox" / "wheels"
# Where the materializing step says which asset's page to show (see chosen_asset).
CHOSEN = "screenshot-asset.txt"
# Tall: the whole asset graph fits at a zoom that still shows each node's status rows, and the
# asset page shows its metadata table down to the run URL.
VIEWPORT = {"width": 1500, "height": 2000}
# Where the first node's "Latest event" row goes: just under the page header and the search bar.
GRAPH_TOP = 160
# Chromium's names in Debian (chromium) and in other distributions.
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
# Buttons that close Dagster's first-run dialogs (1.13: "Join the Dagster community", Skip).
DISMISS_LABELS = ("Skip", "Dismiss", "Got it", "Close", "No thanks", "Not now", "Done")
DIALOGS = "[role=dialog], .bp5-dialog, .bp4-dialog"


def find_chromium() -> str | None:
    """The browser to drive: $CHROMIUM, else the first Chromium on PATH."""
    explicit = os.environ.get("CHROMIUM")
    if explicit:
        return explicit if Path(explicit).is_file() else None
    return next(filter(None, map(shutil.which, CHROMIUM_NAMES)), None)


def skip_reason() -> str | None:
    """Why no screenshot can be taken on this machine, or None when everything is there."""
    if find_chromium() is None:
        return (
            "no Chromium found (looked for $CHROMIUM and " + ", ".join(CHROMIUM_NAMES) + " on "
            "PATH); install the distribution's package, e.g. `apt-get install -y chromium`"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed: run through `uvx nox -s screenshots`"
    return None


def project_python(project: Path) -> str | None:
    """An installed interpreter of the render's ``.python-version`` (uv may not download one)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from pythons import find_python

    version_file = project / ".python-version"
    return find_python(version_file.read_text().strip()) if version_file.is_file() else None


def project_env(project: Path, dagster_home: Path | None = None) -> dict[str, str]:
    """The rendered project's environment: its own venv and Python, no credentials, prebuilt
    pyspark. nox points VIRTUAL_ENV, UV_PROJECT_ENVIRONMENT and UV_PYTHON at its own venv."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABRICKS_", "ARM_"))}
    for name in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "UV_PYTHON"):
        env.pop(name, None)
    python = project_python(project)
    if python is not None:
        env["UV_PYTHON"] = python
    if WHEELS.is_dir():  # pyspark is sdist-only: never rebuild it for a render
        env["UV_FIND_LINKS"] = str(WHEELS)
    if dagster_home is not None:
        env["DAGSTER_HOME"] = str(dagster_home)
    return env


def render(target: Path) -> None:
    """Render the template's defaults into ``target`` (tasks skipped) and sync it."""
    subprocess.run(
        [
            *(
                sys.executable,
                "-m",
                "copier",
                "copy",
                "--skip-tasks",
                "--defaults",
                "--quiet",
                "--vcs-ref",
                "HEAD",
            ),
            *("--data", "project_name=Sales Analytics", str(ROOT), str(target)),
        ],
        check=True,
    )


def materialize(project: Path, dagster_home: Path) -> None:
    """Run the project's ``scripts/run_local.py`` in its venv, recording into ``dagster_home``."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    # No usage statistics from a docs build, and no telemetry notice in its output.
    (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = project_env(project, dagster_home)
    subprocess.run(["uv", "sync", "--quiet"], cwd=project, env=env, check=True)
    command = ["uv", "run", "--no-sync", "python", __file__, "--materialize", str(project)]
    subprocess.run(command, cwd=project, env=env, check=True)


def materialize_in_project(project: Path) -> int:
    """Inside the project's venv: ``scripts/run_local.py`` with runs kept in DAGSTER_HOME.

    run_local.py materializes into an ephemeral instance (nothing to show afterwards); here
    ``dg.materialize`` gets the DAGSTER_HOME instance, so ``dg dev`` shows the same runs.
    """
    import dagster as dg

    instance = dg.DagsterInstance.get()
    original = dg.materialize
    results: list[dg.ExecuteInProcessResult] = []

    def persisted(*args: object, **kwargs: object) -> dg.ExecuteInProcessResult:
        kwargs.setdefault("instance", instance)
        results.append(original(*args, **kwargs))  # type: ignore[arg-type]
        return results[-1]

    dg.materialize = persisted  # type: ignore[assignment]
    sys.argv = ["scripts/run_local.py"]
    code = 0
    try:
        runpy.run_path(str(project / "scripts" / "run_local.py"), run_name="__main__")
    except SystemExit as done:
        code = int(done.code or 0)
    asset = chosen_asset(results)
    if asset is None:
        print("screenshots: no materialized asset has a table and a Databricks run URL")
        return 1
    (Path(instance.root_directory) / CHOSEN).write_text(asset)
    return code


def chosen_asset(results: list[Any]) -> str | None:
    """The asset whose page shows the most Databricks metadata: a table (rows, columns) with
    a run URL and an asset check (main/sales_analytics/cleaned_orders); its key as a path."""
    checked = {e.asset_key for r in results for e in r.get_asset_check_evaluations()}
    best: tuple[int, str] | None = None
    for result in results:
        for event in result.get_asset_materialization_events():
            materialization = event.step_materialization_data.materialization
            metadata = materialization.metadata
            score = sum(
                (
                    "dagster/table_name" in metadata,
                    "dagster/column_schema" in metadata,
                    any(name.endswith("Run URL") for name in metadata),
                    materialization.asset_key in checked,
                )
            )
            path = "/".join(materialization.asset_key.path)
            if best is None or score > best[0]:
                best = (score, path)
    return best[1] if best and best[0] == 4 else None


def free_port() -> int:
    """A loopback port nothing listens on now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_dg_dev(project: Path, dagster_home: Path, port: int, log: Path) -> subprocess.Popen:
    """Start ``dg dev`` in its own process group (so stopping it stops its code server).

    The project's own ``dg``, not ``uv run dg``: uv stands between the signal and dg dev."""
    dg = project / ".venv" / "bin" / "dg"
    command = [str(dg), "dev", "--host", "127.0.0.1", "--port", str(port)]
    return subprocess.Popen(
        command,
        cwd=project,
        env=project_env(project, dagster_home),
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_for_location(url: str, process: subprocess.Popen, timeout: float = 300) -> None:
    """Wait until the webserver answers and its code location has loaded (or failed)."""
    fields = "workspaceOrError { ... on Workspace { locationEntries { loadStatus } } }"
    query = json.dumps({"query": "{ " + fields + " }"}).encode()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dg dev exited with {process.returncode} before it served")
        try:
            request = urllib.request.Request(
                f"{url}/graphql", data=query, headers={"Content-Type": "application/json"}
            )
            with urllib.request.urlopen(request, timeout=5) as response:
                body = response.read().decode()
            if '"loadStatus"' in body and "LOADING" not in body:
                return
        except OSError:
            pass
        time.sleep(1)
    raise TimeoutError(f"dg dev did not load the code location within {timeout:.0f} s")


def stop(process: subprocess.Popen) -> None:
    """Stop ``dg dev`` and its code servers: Ctrl-C to its group (dg dev shuts its daemon and
    servers down on it), then SIGKILL to whatever of the group is left after 20 s."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=20)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # code servers that outlived dg dev
    process.wait()


def dismiss_popups(page: Any, wait_ms: int = 0) -> None:
    """Close the dialog Dagster opens on a first visit ("Join the Dagster community": Skip),
    waiting up to ``wait_ms`` for it to appear; Escape when no known button closes it."""
    dialogs = page.locator(DIALOGS)
    if wait_ms:
        try:
            dialogs.first.wait_for(state="visible", timeout=wait_ms)
        except Exception:  # no dialog this time: it opens a few seconds after a first load
            return
    for _ in range(3):
        if dialogs.count() == 0 or not dialogs.first.is_visible():
            return
        for label in DISMISS_LABELS:
            button = dialogs.first.get_by_role("button", name=label, exact=True)
            if button.count() and button.first.is_visible():
                button.first.click()
                break
        else:
            page.keyboard.press("Escape")
        page.wait_for_timeout(500)


def settle(page: Any) -> None:
    """Wait until the page has its data (no node or panel still "Loading...")."""
    page.wait_for_load_state("networkidle")
    page.wait_for_function("() => !document.body.innerText.includes('Loading...')", timeout=60_000)
    page.wait_for_timeout(1500)  # the graph lays out and fits once its data arrives


def boxes_of(page: Any, text: str) -> list[dict[str, float]]:
    """The bounding boxes of the elements showing exactly ``text``."""
    boxes = [e.bounding_box() for e in page.get_by_text(text, exact=True).all()]
    return [box for box in boxes if box]


def extent(page: Any, text: str) -> tuple[int, int]:
    """The right and bottom edges of the elements showing exactly ``text``."""
    boxes = boxes_of(page, text)
    if not boxes:
        return VIEWPORT["width"], VIEWPORT["height"]
    return (
        int(max(box["x"] + box["width"] for box in boxes)),
        int(max(box["y"] + box["height"] for box in boxes)),
    )


def clip(right: int, bottom: int) -> dict[str, int]:
    """The top-left part of the viewport down to ``bottom`` and across to ``right``, with a
    margin: the pages are laid out tall and wide so nothing scrolls, then cut to the content."""
    return {
        "x": 0,
        "y": 0,
        "width": min(VIEWPORT["width"], max(1000, right + 100)),
        "height": min(VIEWPORT["height"], bottom + 80),
    }


def screenshots(url: str, images: Path, asset_path: str) -> list[Path]:
    """The asset graph and the page of ``asset_path`` (``a/b/c``), as PNGs in ``images``."""
    from playwright.sync_api import sync_playwright

    images.mkdir(parents=True, exist_ok=True)
    graph, asset = images / "asset-graph.png", images / "asset-databricks-metadata.png"
    with sync_playwright() as playwright:
        # --no-sandbox: Chromium refuses to sandbox as root, as in containers and CI.
        browser = playwright.chromium.launch(executable_path=find_chromium(), args=["--no-sandbox"])
        page = browser.new_page(viewport=VIEWPORT, device_scale_factor=1)
        page.goto(f"{url}/asset-groups", wait_until="networkidle")
        dismiss_popups(page, wait_ms=8000)
        # More room for the graph: the navigation and the asset list collapse (remembered by
        # the browser for the next page too).
        page.get_by_role("button", name="Hide navigation").click()
        page.locator("button:has([aria-label=panel_show_right])").click()
        page.wait_for_selector("text=Latest event", timeout=60_000)  # nodes drawn in detail
        settle(page)
        dismiss_popups(page)
        # The graph is laid out centred in the tall viewport: drag it up under the page's
        # header, so the picture has no empty band above the first node.
        top = min(box["y"] for box in boxes_of(page, "Latest event"))
        gap = int(top) - GRAPH_TOP
        if gap > 0:
            page.mouse.move(VIEWPORT["width"] // 2, VIEWPORT["height"] - 40)
            page.mouse.down()
            page.mouse.move(VIEWPORT["width"] // 2, VIEWPORT["height"] - 40 - gap, steps=10)
            page.mouse.up()
            page.wait_for_timeout(500)
        # Every node has a "Latest event" row; kind tags sit just below the lowest one.
        right, bottom = extent(page, "Latest event")
        page.screenshot(path=str(graph), clip=clip(right, bottom + 120))

        page.goto(f"{url}/assets/{asset_path}", wait_until="networkidle")
        dismiss_popups(page, wait_ms=3000)
        page.wait_for_selector("text=Run URL", timeout=60_000)
        settle(page)
        dismiss_popups(page)
        # The page ends with its lineage: what reads this table.
        _, bottom = extent(page, "Downstream assets")
        page.screenshot(path=str(asset), clip=clip(VIEWPORT["width"], bottom + 40))
        browser.close()
    return [graph, asset]


def main(argv: list[str] | None = None) -> int:
    """Parse the options and take the screenshots (or materialize, inside the project)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, help="reuse this rendered project")
    parser.add_argument("--out", type=Path, default=IMAGES, help="where the PNGs go")
    parser.add_argument("--materialize", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.materialize:
        return materialize_in_project(args.materialize.resolve())
    reason = skip_reason()
    if reason is not None:
        print(f"screenshots skipped: {reason}")
        return 0
    with tempfile.TemporaryDirectory(prefix="screenshots-") as tmp:
        work = Path(tmp)
        project = args.project.resolve() if args.project else work / "sales-analytics"
        if args.project is None:
            render(project)
        home = work / "dagster_home"
        materialize(project, home)
        port = free_port()
        log = work / "dg-dev.log"
        process = start_dg_dev(project, home, port, log)
        try:
            wait_for_location(f"http://127.0.0.1:{port}", process)
            asset_path = (home / CHOSEN).read_text().strip()
            written = screenshots(f"http://127.0.0.1:{port}", args.out.resolve(), asset_path)
        except Exception:
            print(log.read_text(), file=sys.stderr)
            raise
        finally:
            stop(process)
    for path in written:
        print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
