"""Maintained by the template; changes arrive with `copier update`.

Uploads under a content hash: the path changes with the content, so a run executes exactly
this commit's code (or reads exactly this commit's data), and an unchanged file is not
uploaded again.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.service.workspace import ImportFormat, Language


def upload_file(client: WorkspaceClient, source: Path, folder: str) -> str:
    """Upload a script or data file under ``folder``/<hash>/; return its ``/Workspace`` path."""
    from databricks.sdk.service.workspace import ImportFormat

    target = _upload_by_hash(client, source, folder, source.name, ImportFormat.AUTO)
    return target if target.startswith("/Workspace/") else f"/Workspace{target}"


def upload_notebook(client: WorkspaceClient, notebook: Path, folder: str) -> str:
    """Import a source-format ``notebook`` under ``folder``/<hash>/; return its notebook path.

    Notebook paths have no extension, as in the workspace UI and ``notebook_task``.
    """
    from databricks.sdk.service.workspace import ImportFormat, Language

    return _upload_by_hash(
        client, notebook, folder, notebook.stem, ImportFormat.SOURCE, Language.PYTHON
    )


def _upload_by_hash(
    client: WorkspaceClient,
    source: Path,
    folder: str,
    name: str,
    import_format: ImportFormat,
    language: Language | None = None,
) -> str:
    from databricks.sdk.errors import NotFound

    content = source.read_bytes()
    target_folder = f"{folder.rstrip('/')}/{hashlib.sha256(content).hexdigest()[:16]}"
    target = f"{target_folder}/{name}"
    try:
        client.workspace.get_status(target)
    except NotFound:
        client.workspace.mkdirs(target_folder)
        client.workspace.upload(
            target, content, format=import_format, language=language, overwrite=True
        )
    return target
