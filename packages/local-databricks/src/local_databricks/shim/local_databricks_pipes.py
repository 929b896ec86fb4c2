"""dagster-pipes in a task process (the patch is applied by local_databricks_hooks.py on import).

The blob store message writers' upload loop notices the session's end within 50 ms instead of
up to 2 s.
"""

# dagster-pipes' blob store writers (DBFS, volumes) check for the session's end once a second,
# and sleep another second after the last upload: up to 2 s of every remote exit. Locally the
# loop checks every 50 ms; uploads while the session is open keep their own interval.
_WRITER_LOOP_SECONDS = 0.05


class _FastLoopTime:
    """`time` for the writer's upload loop: the same clock, shorter naps."""

    def __init__(self, module):
        self._module = module

    def sleep(self, seconds):
        self._module.sleep(min(seconds, _WRITER_LOOP_SECONDS))

    def __getattr__(self, name):
        return getattr(self._module, name)


def patch_dagster_pipes(module):
    """Shorten the upload loop's naps of `dagster_pipes` (a module of the known shape only)."""
    import time
    import types

    channel = getattr(module, "PipesBlobStoreMessageWriterChannel", None)
    loop = getattr(channel, "_upload_loop", None)
    if loop is None or getattr(loop, "__globals__", {}).get("time") is not time:
        return  # not the shape this patch knows: leave dagster-pipes as it is
    namespace = dict(loop.__globals__)
    namespace["time"] = _FastLoopTime(time)
    fast = types.FunctionType(
        loop.__code__, namespace, loop.__name__, loop.__defaults__, loop.__closure__
    )
    fast.__doc__ = loop.__doc__
    channel._upload_loop = fast
