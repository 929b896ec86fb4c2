"""Uploads under a content hash: the path changes with the content, so a run executes exactly
this commit's code (or reads exactly this commit's data), and an unchanged file is not
uploaded again.

Remote scripts and notebooks travel with the one helper they open Pipes with
(``brickpipes_remote.py``, :data:`REMOTE_HELPER`): both go into one folder whose hash covers
both files, so the script imports the helper from its own folder, on every compute.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import brickpipes_remote

if TYPE_CHECKING:
    from databricks.sdk import WorkspaceClient

# The remote side's helper, shipped next to every script and notebook.
REMOTE_HELPER = Path(brickpipes_remote.__file__)


@dataclass(frozen=True)
class Upload:
    """One file to put in the content-addressed folder: its bytes and how to import it."""

    name: str
    content: bytes
    notebook: bool = False


def upload_file(client: WorkspaceClient, source: Path, folder: str) -> str:
    """Upload a data file under ``folder``/<hash>/; return its ``/Workspace`` path."""
    target = _upload_by_hash(client, folder, [Upload(source.name, source.read_bytes())])
    return _workspace_path(target)


def upload_script(client: WorkspaceClient, script: Path, folder: str) -> str:
    """Upload a remote Python script and the Pipes helper beside it; return the script's
    ``/Workspace`` path (what ``spark_python_task.python_file`` takes)."""
    files = [Upload(script.name, script.read_bytes()), _helper()]
    return _workspace_path(_upload_by_hash(client, folder, files))


def upload_notebook(client: WorkspaceClient, notebook: Path, folder: str) -> str:
    """Import a source-format ``notebook`` and the Pipes helper beside it; return the notebook
    path (no extension, as in the workspace UI and ``notebook_task``)."""
    files = [Upload(notebook.stem, notebook.read_bytes(), notebook=True), _helper()]
    return _upload_by_hash(client, folder, files)


def _helper() -> Upload:
    return Upload(REMOTE_HELPER.name, REMOTE_HELPER.read_bytes())


def _workspace_path(path: str) -> str:
    return path if path.startswith("/Workspace/") else f"/Workspace{path}"


def _upload_by_hash(client: WorkspaceClient, folder: str, files: list[Upload]) -> str:
    """Upload ``files`` into ``folder``/<hash of them all>/ unless the first is there already
    (it is uploaded last); return the first file's path."""
    from databricks.sdk.errors import NotFound
    from databricks.sdk.service.workspace import ImportFormat, Language

    digest = hashlib.sha256()
    for upload in files:
        digest.update(f"{upload.name}\0{len(upload.content)}\0".encode())
        digest.update(upload.content)
    target_folder = f"{folder.rstrip('/')}/{digest.hexdigest()[:16]}"
    main = f"{target_folder}/{files[0].name}"
    try:
        client.workspace.get_status(main)
    except NotFound:
        client.workspace.mkdirs(target_folder)
        for upload in reversed(files):  # the main file last: its presence means all are there
            client.workspace.upload(
                f"{target_folder}/{upload.name}",
                upload.content,
                format=ImportFormat.SOURCE if upload.notebook else ImportFormat.AUTO,
                language=Language.PYTHON if upload.notebook else None,
                overwrite=True,
            )
    return main
