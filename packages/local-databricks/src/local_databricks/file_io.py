"""File helpers shared by the DBFS, Files API and workspace services: atomic writes, parent
folders, multipart/form-data bodies."""

from __future__ import annotations

import contextlib
import email.parser
import email.policy
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from .errors import ApiError, already_exists, invalid


def write_atomic(target: Path, data: bytes) -> None:
    """Write `data` to `target` through a temp file, so readers never see half a file."""
    _write_through_temp(target, lambda handle: handle.write(data))


def move_atomic(source: Path, target: Path) -> None:
    """Move the file `source` to `target` at once (through a temp copy across file systems)."""
    try:
        os.replace(source, target)
    except OSError:
        with source.open("rb") as data:
            _write_through_temp(target, lambda handle: shutil.copyfileobj(data, handle, 1 << 20))


def _write_through_temp(target: Path, write: Callable[[BinaryIO], object]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".ld-tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def mtime_ms(path: Path) -> int:
    """Modification time in epoch milliseconds."""
    return path.stat().st_mtime_ns // 1_000_000


def ensure_parent_dirs(local: Path, base: Path, canonical: str) -> None:
    """mkdir -p the parent of `local`, answering RESOURCE_ALREADY_EXISTS if a file is in the way."""
    parent = local.parent
    probe = parent
    while probe != base and probe != probe.parent:
        if probe.exists() and not probe.is_dir():
            raise exists_error(canonical)
        probe = probe.parent
    parent.mkdir(parents=True, exist_ok=True)


def exists_error(canonical: str) -> ApiError:
    """RESOURCE_ALREADY_EXISTS for a DBFS path."""
    return already_exists(f"A file or directory already exists at the input path {canonical}.")


def form_text(fields: dict[str, bytes], name: str) -> str:
    """A multipart form field as text; 400 naming the field when it is not UTF-8."""
    try:
        return fields.get(name, b"").decode("utf-8")
    except UnicodeDecodeError as exc:
        raise invalid(f"Invalid value for field '{name}': not valid UTF-8.") from exc


def parse_multipart(content_type: str, body: bytes) -> dict[str, bytes]:
    """Parse a multipart/form-data body into {field name: bytes} (stdlib `email`, no cgi)."""
    raw = b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    fields: dict[str, bytes] = {}
    if not message.is_multipart():
        raise invalid("Malformed multipart/form-data body.")
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        payload = part.get_payload(decode=True)
        fields[str(name)] = payload if isinstance(payload, bytes) else b""
    return fields
