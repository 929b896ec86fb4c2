"""FUSE paths of a Databricks driver in a task process (installed by sitecustomize.py).

`/dbfs`, `/Volumes` and `/Workspace` are mapped to the emulator's storage
(LOCAL_DATABRICKS_FS_MAP) by wrapping `open` and the `os` functions that `os.path`, `pathlib`,
`shutil` and `tempfile` use. With LOCAL_DATABRICKS_REQUIRE_VOLUMES=1 a `/Volumes` path needs its
volume's directory to exist.
"""

import builtins
import io
import json
import os


def _load_map():
    try:
        mapping = json.loads(os.environ.get("LOCAL_DATABRICKS_FS_MAP") or "{}")
    except ValueError:
        mapping = {}
    items = [(k.rstrip("/"), v.rstrip("/")) for k, v in mapping.items() if k.startswith("/")]
    return sorted(items, key=lambda item: len(item[0]), reverse=True)


_MAP = _load_map()
_REQUIRE_VOLUMES = os.environ.get("LOCAL_DATABRICKS_REQUIRE_VOLUMES") == "1"
_REAL_STAT = os.stat


def _check_volume(path, target):
    """With LOCAL_DATABRICKS_REQUIRE_VOLUMES=1: /Volumes/c/s/v/... needs the volume to exist."""
    parts = path.split("/")  # ["", "Volumes", c, s, v, ...]
    if len(parts) < 5 or not all(parts[2:5]):
        return
    volume_dir = os.path.join(target, parts[2], parts[3], parts[4])
    try:
        exists = _stat_is_dir(_REAL_STAT(volume_dir))
    except OSError:
        exists = False
    if not exists:
        import errno

        raise FileNotFoundError(
            errno.ENOENT,
            f"Volume '{parts[2]}.{parts[3]}.{parts[4]}' does not exist",
            path,
        )


def _stat_is_dir(result):
    import stat

    return stat.S_ISDIR(result.st_mode)


def _map_str(path):
    for prefix, target in _MAP:
        if path == prefix or path.startswith(prefix + "/"):
            if _REQUIRE_VOLUMES and prefix == "/Volumes":
                _check_volume(path, target)
            return target + path[len(prefix) :]
    return None


def _map(path):
    """Return the local path for a FUSE path, or `path` unchanged."""
    if isinstance(path, str):
        mapped = _map_str(path)
        return path if mapped is None else mapped
    if isinstance(path, bytes):
        mapped = _map_str(os.fsdecode(path))
        return path if mapped is None else os.fsencode(mapped)
    if hasattr(path, "__fspath__"):
        text = path.__fspath__()
        if isinstance(text, (str, bytes)):
            mapped = _map(text)
            return path if mapped is text else mapped
    return path


def _as_builtin(wrapper, func):
    # A staticmethod is callable (3.10+) and, unlike a plain function, does not bind when
    # stored on a class: Python 3.10's pathlib keeps `open = io.open` on its accessor class.
    wrapper.__name__ = getattr(func, "__name__", "wrapper")
    wrapper.__doc__ = getattr(func, "__doc__", None)
    wrapper.__wrapped__ = func
    return staticmethod(wrapper)


def _wrap_one(func):
    def wrapper(path, *args, **kwargs):
        return func(_map(path), *args, **kwargs)

    return _as_builtin(wrapper, func)


def _wrap_two(func):
    def wrapper(src, dst, *args, **kwargs):
        return func(_map(src), _map(dst), *args, **kwargs)

    return _as_builtin(wrapper, func)


def _wrap_optional(func):
    # listdir()/scandir() default to the current directory.
    def wrapper(path=None, *args, **kwargs):
        if path is None:
            return func(*args, **kwargs)
        return func(_map(path), *args, **kwargs)

    return _as_builtin(wrapper, func)


_ONE_PATH = (
    "open",
    "stat",
    "lstat",
    "mkdir",
    "remove",
    "unlink",
    "rmdir",
    "access",
    "chmod",
    "chown",
    "utime",
    "chdir",
    "truncate",
    "readlink",
    "statvfs",
    "listxattr",
    "getxattr",
    "setxattr",
    "removexattr",
)


def install():
    """Wrap `open` and the `os` path functions (nothing without a map)."""
    if not _MAP:
        return
    wrapped_open = _wrap_one(builtins.open)
    builtins.open = wrapped_open
    io.open = wrapped_open
    for name in _ONE_PATH:
        func = getattr(os, name, None)
        if func is not None:
            setattr(os, name, _wrap_one(func))
    for name in ("listdir", "scandir"):
        setattr(os, name, _wrap_optional(getattr(os, name)))
    for name in ("rename", "replace", "link"):
        func = getattr(os, name, None)
        if func is not None:
            setattr(os, name, _wrap_two(func))
