"""The host side of Dagster Pipes over Unity Catalog volumes or DBFS, on the Databricks SDK.

A context injector writes the context as ``<tempdir>/context.json``; a message reader creates a
``<tempdir>`` where the remote writer puts numbered chunks ``1.json``, ``2.json``, ... (one JSON
message a line): the layout dagster-pipes' ``PipesUnityCatalogVolumes*`` and ``PipesDbfs*``
loaders and writers use. Both add ``"transport": "volumes"`` or ``"dbfs"`` to the params they
hand to the remote side, so ``brickpipes_remote.open_pipes`` picks the matching loader and writer
without guessing from the path.

The readers read on a thread loop of their own: at exactly ``interval`` seconds while the session
is open, every waiting chunk at once when it closes, and late chunks for
``late_messages_seconds`` when the remote ended without its "closed" message. Each reader stops
at its own writer's "closed" message, so several readers composed for several writers end
together. Temporary files are deleted at the end; a failed delete is logged, never raised, so it
cannot hide the step's own error.
"""

from __future__ import annotations

import base64
import io
import json
import re
import sys
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import dagster as dg
from dagster._core.errors import DagsterPipesExecutionError
from dagster_pipes import PIPES_PROTOCOL_VERSION_FIELD, PipesBlobStoreMessageWriter
from databricks.sdk.errors import NotFound
from databricks.sdk.service.files import DbfsAPI, FilesAPI

if TYPE_CHECKING:
    from dagster._core.pipes.context import PipesMessageHandler
    from dagster_pipes import PipesContextData, PipesParams
    from databricks.sdk import WorkspaceClient

__all__ = [
    "TRANSPORT_KEY",
    "DbfsContextInjector",
    "DbfsMessageReader",
    "Transport",
    "VolumesContextInjector",
    "VolumesMessageReader",
    "open_transport",
]

Transport = Literal["volumes", "dbfs"]
TRANSPORT_KEY = "transport"
"""The params key, next to ``path``, that tells the remote side which transport to open."""
CONTEXT_FILENAME = "context.json"
DEFAULT_INTERVAL_SECONDS = 10.0
DEFAULT_LATE_MESSAGES_SECONDS = 10.0  # upstream: WAIT_FOR_LOGS_AFTER_EXECUTION_INTERVAL
LATE_POLL_SECONDS = 1.0
THREAD_JOIN_SECONDS = 120.0  # beyond the late window, for one slow read (upstream: 120)
_DBFS_BLOCK_BYTES = 512 * 1024  # base64 of it stays below the 1 MB limit of dbfs/put, add-block
_DBFS_READ_BYTES = 1024 * 1024  # the most dbfs/read returns at once

_log = dg.get_dagster_logger("brickpipes")


class _Store(ABC):
    """The few file operations Pipes needs, on one Databricks storage."""

    transport: Transport

    @abstractmethod
    def make_tempdir(self) -> str: ...

    @abstractmethod
    def write(self, path: str, data: bytes) -> None: ...

    @abstractmethod
    def read(self, path: str) -> bytes | None:
        """The file's bytes, or None when it does not exist (yet)."""

    @abstractmethod
    def remove_tree(self, path: str) -> None: ...

    @contextmanager
    def tempdir(self) -> Iterator[str]:
        """A new directory, deleted at the end; a failed delete is logged, never raised."""
        path = self.make_tempdir()
        try:
            yield path
        finally:
            try:
                self.remove_tree(path)
            except Exception as error:
                _log.warning(f"[pipes] Could not delete the temporary {path}: {error!r}")


class _VolumesStore(_Store):
    """Unity Catalog volumes through the Files API (``/api/2.0/fs``), one call per operation."""

    transport: Transport = "volumes"

    def __init__(self, client: WorkspaceClient, volume_path: str):
        if not volume_path.startswith("/Volumes/"):
            raise ValueError(
                f"volume_path must be /Volumes/<catalog>/<schema>/<volume>, got {volume_path!r}"
            )
        self._files = FilesAPI(client.api_client)
        self._root = volume_path.rstrip("/")

    def make_tempdir(self) -> str:
        path = f"{self._root}/tmp/dagster-pipes-{uuid.uuid4().hex}"
        self._files.create_directory(path)
        return path

    def write(self, path: str, data: bytes) -> None:
        self._files.upload(path, io.BytesIO(data), overwrite=True)

    def read(self, path: str) -> bytes | None:
        try:
            contents = self._files.download(path).contents
        except NotFound:
            return None
        return contents.read() if contents is not None else b""

    def remove_tree(self, path: str) -> None:
        for entry in self._files.list_directory_contents(path):
            child = entry.path or f"{path}/{entry.name}"
            if entry.is_directory:
                self.remove_tree(child)
            else:
                self._files.delete(child)
        self._files.delete_directory(path)


class _DbfsStore(_Store):
    """DBFS through the DBFS API (``/api/2.0/dbfs``); contents travel base64-encoded."""

    transport: Transport = "dbfs"

    def __init__(self, client: WorkspaceClient):
        self._dbfs = DbfsAPI(client.api_client)

    def make_tempdir(self) -> str:
        path = f"/tmp/dagster-pipes-{uuid.uuid4().hex}"
        self._dbfs.mkdirs(path)
        return path

    def write(self, path: str, data: bytes) -> None:
        if len(data) <= _DBFS_BLOCK_BYTES:
            self._dbfs.put(path, contents=_b64(data), overwrite=True)
            return
        handle = self._dbfs.create(path, overwrite=True).handle
        if handle is None:
            raise OSError(f"dbfs/create returned no handle for {path}")
        for start in range(0, len(data), _DBFS_BLOCK_BYTES):
            self._dbfs.add_block(handle, _b64(data[start : start + _DBFS_BLOCK_BYTES]))
        self._dbfs.close(handle)

    def read(self, path: str) -> bytes | None:
        parts: list[bytes] = []
        while True:
            offset = sum(map(len, parts))
            try:
                response = self._dbfs.read(path, offset=offset, length=_DBFS_READ_BYTES)
            except NotFound:
                if not parts:
                    return None
                raise
            data = base64.b64decode(response.data or "")
            parts.append(data)
            if len(data) < _DBFS_READ_BYTES:
                return b"".join(parts)

    def remove_tree(self, path: str) -> None:
        self._dbfs.delete(path, recursive=True)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class _ContextInjector(dg.PipesContextInjector):
    def __init__(self, store: _Store):
        self._store = store

    @contextmanager
    def inject_context(self, context_data: PipesContextData) -> Iterator[PipesParams]:
        """Write the context to ``<tempdir>/context.json``; yield its path and the transport."""
        with self._store.tempdir() as tempdir:
            path = f"{tempdir}/{CONTEXT_FILENAME}"
            self._store.write(path, json.dumps(context_data).encode("utf-8"))
            yield {"path": path, TRANSPORT_KEY: self._store.transport}

    def no_messages_debug_text(self) -> str:
        return (
            f"Injected the context into a temporary file on {self._store.transport}. The remote"
            " side must open Pipes with brickpipes_remote.open_pipes (or the matching dagster-pipes"
            " context loader)."
        )


class VolumesContextInjector(_ContextInjector):
    """Writes the Pipes context to a temporary file in a Unity Catalog volume.

    The remote side reads it with ``PipesUnityCatalogVolumesContextLoader``.
    """

    def __init__(self, client: WorkspaceClient, volume_path: str):
        super().__init__(_VolumesStore(client, volume_path))


class DbfsContextInjector(_ContextInjector):
    """Writes the Pipes context to a temporary file on DBFS (read by ``PipesDbfsContextLoader``)."""

    def __init__(self, client: WorkspaceClient):
        super().__init__(_DbfsStore(client))


@dataclass
class _ReadState:
    path: str
    next_chunk: int = 1
    writer_closed: bool = False
    last_error: OSError | None = None


class _MessageReader(dg.PipesMessageReader):
    def __init__(
        self,
        store: _Store,
        *,
        interval: float,
        include_stdio_in_messages: bool,
        late_messages_seconds: float,
    ):
        if interval <= 0 or late_messages_seconds < 0:
            raise ValueError("interval must be > 0 and late_messages_seconds >= 0")
        self._store = store
        self.interval = interval
        self.include_stdio_in_messages = include_stdio_in_messages
        self.late_messages_seconds = late_messages_seconds

    @contextmanager
    def read_messages(self, handler: PipesMessageHandler) -> Iterator[PipesParams]:
        """Create the messages directory, read it on a thread while the session is open."""
        with self._store.tempdir() as path:
            session_closed = threading.Event()
            thread = threading.Thread(
                target=self._read_loop,
                args=(handler, _ReadState(path), session_closed),
                name=f"{type(self).__name__} messages",
                daemon=True,
            )
            thread.start()
            body_failed = True
            try:
                yield {
                    "path": path,
                    PipesBlobStoreMessageWriter.INCLUDE_STDIO_IN_MESSAGES_KEY: (
                        self.include_stdio_in_messages
                    ),
                    TRANSPORT_KEY: self._store.transport,
                }
                body_failed = False
            finally:
                session_closed.set()
                thread.join(self.late_messages_seconds + THREAD_JOIN_SECONDS)
                if thread.is_alive():
                    message = f"Timed out waiting for the {thread.name} thread to finish."
                    if not body_failed:
                        raise DagsterPipesExecutionError(message)
                    _log.warning(f"[pipes] {message}")

    def _read_loop(
        self, handler: PipesMessageHandler, state: _ReadState, session_closed: threading.Event
    ) -> None:
        try:
            # The first read waits an interval too: the remote run is not even submitted yet.
            next_read = time.monotonic() + self.interval
            while not session_closed.wait(max(0.0, next_read - time.monotonic())):
                next_read = max(next_read + self.interval, time.monotonic())
                self._read_chunk(handler, state)
                if state.writer_closed:
                    return
            # The session closed: read what waits at once, then late chunks for a while.
            give_up_at = time.monotonic() + self.late_messages_seconds
            while True:
                while self._read_chunk(handler, state) and not state.writer_closed:
                    pass
                remaining = give_up_at - time.monotonic()
                if state.writer_closed or remaining <= 0:
                    break
                time.sleep(min(LATE_POLL_SECONDS, self.interval, remaining))
            if state.next_chunk == 1:
                error = f" (last error: {state.last_error!r})" if state.last_error else ""
                # The step's log, as upstream's readers warn (PipesThreadedMessageReader).
                handler._context.log.warning(
                    f"[pipes] {type(self).__name__} read no messages from {state.path} within"
                    f" {self.late_messages_seconds} s after the session closed{error}."
                )
        except BaseException:
            handler.report_pipes_framework_exception(
                f"{type(self).__name__} messages thread", sys.exc_info()
            )
            raise

    def _read_chunk(self, handler: PipesMessageHandler, state: _ReadState) -> bool:
        """Read the next chunk into ``handler``; False when it is not there (yet)."""
        try:
            data = self._store.read(f"{state.path}/{state.next_chunk}.json")
        except OSError as error:  # transient (the SDK's errors and network errors): next time
            state.last_error = error
            return False
        if data is None:
            return False
        state.next_chunk += 1
        for line in data.decode("utf-8").split("\n"):
            message = _parse(line)
            if message is not None:
                handler.handle_message(message)
                state.writer_closed = state.writer_closed or message.get("method") == "closed"
        return True

    def no_messages_debug_text(self) -> str:
        return (
            f"Read messages from a temporary directory on {self._store.transport}. The remote side"
            " must open Pipes with brickpipes_remote.open_pipes (or the matching dagster-pipes"
            " message writer)."
        )


def _parse(line: str) -> Any:
    try:
        message = json.loads(line)
    except json.JSONDecodeError:
        return None
    if not isinstance(message, dict) or PIPES_PROTOCOL_VERSION_FIELD not in message:
        return None
    return _without_bookkeeping(message)


# What dagster-pipes' stdio capture writes to the remote stderr about itself ("Starting
# PipesDefaultLogWriterChannel"): forwarded, it came before the remote's own output and error.
BOOKKEEPING = re.compile(r"^(Starting|Stopped) Pipes\w*Channel$")


def _without_bookkeeping(message: dict[str, Any]) -> dict[str, Any] | None:
    """``message``, with the stdio capture's own lines taken out of a forwarded stream (None
    when nothing else is left)."""
    params = message.get("params")
    if message.get("method") != "log_external_stream" or not isinstance(params, dict):
        return message
    text = str(params.get("text", ""))
    kept = [line for line in text.splitlines(keepends=True) if not BOOKKEEPING.match(line.strip())]
    if len(kept) == len(text.splitlines(keepends=True)):
        return message
    return {**message, "params": {**params, "text": "".join(kept)}} if kept else None


class VolumesMessageReader(_MessageReader):
    """Reads the chunks ``PipesUnityCatalogVolumesMessageWriter`` writes to a Unity Catalog volume.

    ``interval``: seconds between reads while the session is open. ``include_stdio_in_messages``:
    the remote forwards its stdout/stderr as Pipes messages. ``late_messages_seconds``: how long
    to keep reading after the session closed when the remote never said "closed".
    """

    def __init__(
        self,
        client: WorkspaceClient,
        volume_path: str,
        *,
        interval: float = DEFAULT_INTERVAL_SECONDS,
        include_stdio_in_messages: bool = False,
        late_messages_seconds: float = DEFAULT_LATE_MESSAGES_SECONDS,
    ):
        super().__init__(
            _VolumesStore(client, volume_path),
            interval=interval,
            include_stdio_in_messages=include_stdio_in_messages,
            late_messages_seconds=late_messages_seconds,
        )


class DbfsMessageReader(_MessageReader):
    """Reads the chunks ``PipesDbfsMessageWriter`` writes to DBFS; options as
    :class:`VolumesMessageReader`."""

    def __init__(
        self,
        client: WorkspaceClient,
        *,
        interval: float = DEFAULT_INTERVAL_SECONDS,
        include_stdio_in_messages: bool = False,
        late_messages_seconds: float = DEFAULT_LATE_MESSAGES_SECONDS,
    ):
        super().__init__(
            _DbfsStore(client),
            interval=interval,
            include_stdio_in_messages=include_stdio_in_messages,
            late_messages_seconds=late_messages_seconds,
        )


def open_transport(
    client: WorkspaceClient,
    transport: Transport,
    *,
    volume_path: str = "",
    writers: int = 1,
    interval: float = DEFAULT_INTERVAL_SECONDS,
    include_stdio_in_messages: bool = False,
    late_messages_seconds: float = DEFAULT_LATE_MESSAGES_SECONDS,
) -> tuple[dg.PipesContextInjector, dg.PipesMessageReader]:
    """The context injector and message reader of ``transport`` for ``writers`` remote writers.

    With several writers (one per task of a run), each gets a reader of its own, composed with
    ``dg.PipesCompositeMessageReader``: pair each task with
    ``session.get_per_writer_bootstrap_cli_arguments()[i]``.
    """
    if writers < 1:
        raise ValueError(f"writers must be at least 1, got {writers}")
    options: dict[str, Any] = {
        "interval": interval,
        "include_stdio_in_messages": include_stdio_in_messages,
        "late_messages_seconds": late_messages_seconds,
    }
    injector: dg.PipesContextInjector
    readers: list[dg.PipesMessageReader]
    if transport == "volumes":
        injector = VolumesContextInjector(client, volume_path)
        readers = [VolumesMessageReader(client, volume_path, **options) for _ in range(writers)]
    elif transport == "dbfs":
        injector = DbfsContextInjector(client)
        readers = [DbfsMessageReader(client, **options) for _ in range(writers)]
    else:
        raise ValueError(f"Unknown Pipes transport {transport!r}: use 'volumes' or 'dbfs'.")
    if writers == 1:
        return injector, readers[0]
    return injector, dg.PipesCompositeMessageReader(readers)
