"""The Unity Catalog Files API (`/api/2.0/fs/*`): files and directories in volumes, uploads
streamed to disk, and FilesExt multipart uploads with signed part URLs. DBFS is `dbfs.py`'s."""

from __future__ import annotations

import base64
import contextlib
import email.utils
import hashlib
import hmac
import os
import secrets
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

from .dbfs import ONE_MB, DbfsService
from .errors import ApiError, invalid
from .file_io import move_atomic, mtime_ms, write_atomic
from .paths import Storage
from .routing import Request, Response, Router, check_int, check_str
from .util import to_bool, to_int

LIST_PAGE_SIZE = 1000


class FileService:
    """Serves the Files API (and, through its DbfsService, DBFS) against the emulated storage."""

    def __init__(self, storage: Storage, volume_check: Callable[[str], None] | None = None) -> None:
        self.storage = storage
        self.volume_check = volume_check or (lambda canonical: None)
        self.dbfs = DbfsService(storage)
        self._lock = threading.Lock()
        self._uploads: dict[str, _Upload] = {}
        self._upload_key = secrets.token_bytes(32)

    def reset(self) -> None:
        """Drop open DBFS handles and multipart upload sessions."""
        self.dbfs.reset()
        with self._lock:
            self._uploads.clear()
        shutil.rmtree(self.storage.root / "uploads", ignore_errors=True)

    def register(self, router: Router) -> None:
        """Add the DBFS and Files API routes."""
        self.dbfs.register(router)
        router.add("PUT", r"/api/2\.0/fs/files(/.*)", self.fs_put_file, stream=True)
        router.add("POST", r"/api/2\.0/fs/files(/.*)", self.fs_post_file)
        router.add("POST", r"/api/2\.0/fs/create-upload-part-urls", self.fs_part_urls)
        router.add("POST", r"/api/2\.0/fs/create-abort-upload-url", self.fs_abort_url)
        # the "presigned" URLs: no workspace credential, a signature in the query instead
        parts = r"/api/2\.0/fs/upload-parts/([0-9a-f]{32})"
        router.add("PUT", parts + r"/(\d{1,5})", self.fs_put_part, self._part_guard, stream=True)
        router.add("DELETE", parts, self.fs_abort, self._abort_guard)
        router.add(["GET", "HEAD"], r"/api/2\.0/fs/files(/.*)", self.fs_get_file)
        router.add("DELETE", r"/api/2\.0/fs/files(/.*)", self.fs_delete_file)
        router.add("PUT", r"/api/2\.0/fs/directories(/.*)", self.fs_put_dir)
        router.add(["GET", "HEAD"], r"/api/2\.0/fs/directories(/.*)", self.fs_get_dir)
        router.add("DELETE", r"/api/2\.0/fs/directories(/.*)", self.fs_delete_dir)

    # ---- Files API (Unity Catalog volumes) ----------------------------------------------------

    def _volume(self, req: Request) -> tuple[str, Path]:
        canonical, local = self.storage.volume_local(unquote(req.group(1), errors="strict"))
        self.volume_check(canonical)
        return canonical, local

    def _volume_file(self, req: Request) -> tuple[str, Path]:
        """A Files API file path: inside a volume, with a file name (not the volume itself)."""
        canonical, local = self._volume(req)
        if canonical.count("/") < 5:
            raise invalid(
                f"Invalid path {canonical!r}: a file path needs a file name inside the volume "
                "(/Volumes/<catalog>/<schema>/<volume>/<file>)."
            )
        return canonical, local

    def _volume_path(self, local: Path) -> str:
        """The /Volumes/... path of a local path under the volumes folder (for messages)."""
        return "/Volumes/" + local.relative_to(self.storage.volumes).as_posix()

    def fs_put_file(self, req: Request) -> Response:
        """PUT fs/files{path}: upload raw bytes (spooled to disk); parents are made implicitly."""
        canonical, local = self._volume_file(req)
        overwrite = to_bool(req.query.get("overwrite", "false"))
        if local.is_dir():
            raise ApiError(409, "ALREADY_EXISTS", f"A directory already exists at {canonical}.")
        if local.exists() and not overwrite:
            raise ApiError(409, "ALREADY_EXISTS", f"The file {canonical} already exists.")
        probe = local.parent
        while probe != self.storage.volumes and probe != probe.parent:
            if probe.exists() and not probe.is_dir():
                shown = self._volume_path(probe)
                raise ApiError(409, "ALREADY_EXISTS", f"A file already exists at {shown}.")
            probe = probe.parent
        local.parent.mkdir(parents=True, exist_ok=True)
        _install(req, local)
        return Response(204)

    # ---- Files API multipart upload (FilesExt: action=initiate-upload ... complete-upload) -------

    def _sign(self, upload_id: str, part: str) -> str:
        message = f"{upload_id}/{part}".encode()
        return hmac.new(self._upload_key, message, hashlib.sha256).hexdigest()

    def _session(self, token: object) -> tuple[str, _Upload]:
        token = check_str(token, "session_token", required=True)
        with self._lock:
            upload = self._uploads.get(token)
        if upload is None:
            raise ApiError(404, "NOT_FOUND", "The upload session does not exist or has ended.")
        return token, upload

    def fs_post_file(self, req: Request) -> Response | dict:
        """POST fs/files{path}?action=initiate-upload|complete-upload (multipart uploads)."""
        action = req.query.get("action")
        canonical, local = self._volume_file(req)
        if action == "initiate-upload":
            overwrite = to_bool(req.query.get("overwrite", "true"), "overwrite")
            if local.is_dir():
                raise ApiError(409, "ALREADY_EXISTS", f"A directory already exists at {canonical}.")
            if local.exists() and not overwrite:
                raise ApiError(409, "ALREADY_EXISTS", f"The file {canonical} already exists.")
            token = secrets.token_hex(16)
            parts_dir = self.storage.root / "uploads" / token
            parts_dir.mkdir(parents=True, exist_ok=True)
            with self._lock:
                self._uploads[token] = _Upload(canonical, local, overwrite, parts_dir)
            return {"multipart_upload": {"session_token": token}}
        if action == "complete-upload":
            if req.query.get("upload_type", "multipart") != "multipart":
                raise invalid("upload_type must be multipart.")
            token, upload = self._session(req.query.get("session_token"))
            if upload.canonical != canonical:
                raise invalid(f"The upload session belongs to {upload.canonical}, not {canonical}.")
            parts = req.list_param("parts", required=True)
            numbers = []
            for index, part in enumerate(parts):
                if not isinstance(part, dict):
                    raise invalid(f"Invalid value for field 'parts[{index}]': expected an object.")
                number = check_int(
                    part.get("part_number"), f"parts[{index}].part_number", required=True
                )
                if upload.etags.get(number) != part.get("etag"):
                    raise invalid(f"Part {number} was not uploaded or its etag does not match.")
                numbers.append(number)
            if numbers != sorted(set(numbers)) or numbers != list(range(1, len(numbers) + 1)):
                raise invalid("parts must be numbered 1..N in order, each once.")
            if upload.local.exists() and not upload.overwrite:
                raise ApiError(409, "ALREADY_EXISTS", f"The file {canonical} already exists.")
            upload.local.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=upload.local.parent, prefix=".ld-tmp-")
            try:
                with os.fdopen(fd, "wb") as out:
                    for number in numbers:
                        with (upload.parts_dir / str(number)).open("rb") as part_file:
                            shutil.copyfileobj(part_file, out, ONE_MB)
                os.replace(tmp, upload.local)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
            with self._lock:
                self._uploads.pop(token, None)
            shutil.rmtree(upload.parts_dir, ignore_errors=True)
            return {}
        raise invalid(f"Invalid action {action!r}: use initiate-upload or complete-upload.")

    def fs_part_urls(self, req: Request) -> dict:
        """POST fs/create-upload-part-urls {path, session_token, start_part_number, count}."""
        token, upload = self._session(req.body_param("session_token"))
        path = req.str_param("path", required=True)
        if self.storage.volume_local(path)[0] != upload.canonical:
            raise invalid(f"The upload session belongs to {upload.canonical}, not {path}.")
        start = req.int_param("start_part_number", required=True)
        count = req.int_param("count", 1)
        if not 1 <= start <= 10000 or not 1 <= count <= 100:
            raise invalid("start_part_number must be 1..10000 and count 1..100.")
        urls = []
        for number in range(start, min(start + count, 10001)):
            signature = self._sign(token, str(number))
            urls.append(
                {
                    "part_number": number,
                    "url": f"{req.host}/api/2.0/fs/upload-parts/{token}/{number}"
                    f"?signature={signature}",
                    "headers": [],
                }
            )
        return {"upload_part_urls": urls}

    def fs_abort_url(self, req: Request) -> dict:
        """POST fs/create-abort-upload-url {path, session_token}."""
        token, _ = self._session(req.body_param("session_token"))
        signature = self._sign(token, "abort")
        url = f"{req.host}/api/2.0/fs/upload-parts/{token}?signature={signature}"
        return {"abort_upload_url": {"url": url, "headers": []}}

    def _check_signature(self, req: Request, part: str) -> str:
        token = req.group(1)
        given = req.query.get("signature", "")
        expected = self._sign(token, part).encode()
        if not hmac.compare_digest(given.encode("utf-8", "replace"), expected):
            raise ApiError(403, "PERMISSION_DENIED", "Invalid signature for this upload URL.")
        return token

    def _part_guard(self, req: Request) -> None:
        """A part URL's credential, checked from the URL before its body is read."""
        self._session(self._check_signature(req, req.group(2)))

    def _abort_guard(self, req: Request) -> None:
        self._session(self._check_signature(req, "abort"))

    def fs_put_part(self, req: Request) -> Response:
        """PUT upload-parts/<session>/<n>?signature= (the presigned part URL): 200 with an ETag."""
        _, upload = self._session(req.group(1))
        number = int(req.group(2))
        digest = hashlib.md5(usedforsecurity=False)
        if req.body_file is not None:
            with req.body_file.open("rb") as spooled:
                for piece in iter(lambda: spooled.read(ONE_MB), b""):
                    digest.update(piece)
        else:
            digest.update(req.body)
        _install(req, upload.parts_dir / str(number))
        etag = '"' + digest.hexdigest() + '"'
        with self._lock:
            upload.etags[number] = etag
        return Response(200, b"", {"ETag": etag}, "application/octet-stream")

    def fs_abort(self, req: Request) -> Response:
        """DELETE upload-parts/<session>?signature= (the abort URL): drop the session."""
        token, upload = self._session(req.group(1))
        with self._lock:
            self._uploads.pop(token, None)
        shutil.rmtree(upload.parts_dir, ignore_errors=True)
        return Response(200, b"", {}, "application/octet-stream")

    def fs_get_file(self, req: Request) -> Response:
        """GET/HEAD fs/files{path}: raw bytes with content-length/type and last-modified."""
        canonical, local = self._volume(req)
        if not local.is_file():
            raise ApiError(404, "NOT_FOUND", f"The file being accessed is not found: {canonical}.")
        stat = local.stat()
        headers = {"Last-Modified": email.utils.formatdate(stat.st_mtime, usegmt=True)}
        if req.method == "HEAD":
            headers["Content-Length"] = str(stat.st_size)
            return Response(200, None, headers, "application/octet-stream")
        data = local.read_bytes()
        status = 200
        byte_range = req.headers.get("Range")
        if byte_range and byte_range.startswith("bytes="):
            start_s, _, end_s = byte_range[6:].partition("-")
            try:
                start = int(start_s) if start_s else max(0, len(data) - int(end_s))
                end = int(end_s) if (end_s and start_s) else len(data) - 1
            except ValueError as exc:
                raise ApiError(416, "INVALID_PARAMETER_VALUE", "Invalid Range header.") from exc
            end = min(end, len(data) - 1)
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            data = data[start : end + 1]
            status = 206
        return Response(status, data, headers, "application/octet-stream")

    def fs_delete_file(self, req: Request) -> Response:
        """DELETE fs/files{path}."""
        canonical, local = self._volume(req)
        if not local.is_file():
            raise ApiError(404, "NOT_FOUND", f"The file being accessed is not found: {canonical}.")
        local.unlink()
        return Response(204)

    def fs_put_dir(self, req: Request) -> Response:
        """PUT fs/directories{path}: mkdir -p (idempotent)."""
        canonical, local = self._volume(req)
        probe = local
        while probe != self.storage.volumes and probe != probe.parent:
            if probe.exists() and not probe.is_dir():
                raise ApiError(409, "ALREADY_EXISTS", f"A file already exists at {canonical}.")
            probe = probe.parent
        local.mkdir(parents=True, exist_ok=True)
        return Response(204)

    def fs_get_dir(self, req: Request) -> Response | dict:
        """GET fs/directories{path}: list one level (paginated); HEAD: 200 or 404."""
        canonical, local = self._volume(req)
        if not local.is_dir():
            raise _dir_not_found(canonical)
        if req.method == "HEAD":
            return Response(200, None, {"Content-Length": "0"})
        page_size = to_int(req.query.get("page_size"), "page_size", LIST_PAGE_SIZE)
        page_size = max(1, min(page_size, LIST_PAGE_SIZE))
        start = 0
        token = req.query.get("page_token")
        if token:
            try:
                start = int(base64.urlsafe_b64decode(token.encode()).decode())
            except ValueError as exc:
                raise invalid("Invalid page_token.") from exc
        children = sorted(c for c in local.iterdir() if not c.name.startswith(".ld-tmp-"))
        base = canonical.rstrip("/")
        contents = []
        for child in children[start : start + page_size]:
            entry: dict = {"path": f"{base}/{child.name}", "name": child.name}
            if child.is_dir():
                entry["is_directory"] = True
            else:
                entry["is_directory"] = False
                entry["file_size"] = child.stat().st_size
                entry["last_modified"] = mtime_ms(child)
            contents.append(entry)
        result: dict = {}
        if contents:
            result["contents"] = contents
        if start + page_size < len(children):
            next_start = str(start + page_size).encode()
            result["next_page_token"] = base64.urlsafe_b64encode(next_start).decode()
        return result

    def fs_delete_dir(self, req: Request) -> Response:
        """DELETE fs/directories{path}: only empty directories."""
        canonical, local = self._volume(req)
        if not local.is_dir():
            raise _dir_not_found(canonical)
        if any(local.iterdir()):
            raise ApiError(
                409,
                "DIRECTORY_NOT_EMPTY",
                f"The directory {canonical} is not empty; delete its contents first.",
            )
        local.rmdir()
        return Response(204)


@dataclass
class _Upload:
    canonical: str
    local: Path
    overwrite: bool
    parts_dir: Path
    etags: dict[int, str] = field(default_factory=dict)


def _install(req: Request, target: Path) -> None:
    """Put a request's body at `target` atomically: the spooled upload file is moved there."""
    if req.body_file is None:
        write_atomic(target, req.body)
    else:
        move_atomic(req.body_file, target)


def _dir_not_found(canonical: str) -> ApiError:
    return ApiError(404, "NOT_FOUND", f"The directory being accessed is not found: {canonical}.")
