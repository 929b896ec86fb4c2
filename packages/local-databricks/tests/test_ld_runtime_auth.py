"""Runtime authentication and the task's own Python environment, through the SDK's methods."""

import json
import subprocess
import sys
import zipfile

from databricks.sdk.service import jobs
from ld_helpers import raw, write_file

CLUSTER = {"spark_version": "16.4.x-scala2.12", "node_type_id": "i3.xlarge", "num_workers": 0}

AUTH_SCRIPT = """
import json, os
from databricks.sdk import WorkspaceClient
from databricks.sdk.runtime import dbutils as runtime_dbutils

w = WorkspaceClient()
print(json.dumps({
    "auth_type": w.config.auth_type,
    "host": w.config.host,
    "user": w.current_user.me().user_name,
    "secret": w.dbutils.secrets.get("scope", "key"),
    "runtime_secret": runtime_dbutils.secrets.get("scope", "key"),
    "runtime_version": os.environ["DATABRICKS_RUNTIME_VERSION"],
    "token": os.environ["LOCAL_DATABRICKS_API_TOKEN"],
    "env_host": os.environ.get("DATABRICKS_HOST"),
}))
"""


def _submit(w, task_body: dict) -> jobs.Run:
    task = jobs.SubmitTask.from_dict({"task_key": "t", "new_cluster": CLUSTER, **task_body})
    return w.jobs.submit(run_name="runtime", tasks=[task]).result()


def test_workspace_client_without_arguments_in_a_task(local_databricks, w, script):
    local_databricks.put_secret("scope", "key", "s3cr3t")
    path = script(AUTH_SCRIPT)
    run = _submit(w, {"spark_python_task": {"python_file": path}})
    output = w.jobs.get_run_output(run.tasks[0].run_id)
    assert run.state.result_state == jobs.RunResultState.SUCCESS, output.error_trace
    seen = json.loads(output.logs)
    assert seen["auth_type"] == "runtime"
    assert seen["host"] == local_databricks.url
    assert seen["user"] == "local.user@example.com"
    assert seen["secret"] == seen["runtime_secret"] == "s3cr3t"
    assert seen["runtime_version"] == "16.4"
    assert seen["env_host"] is None  # as on a driver: the runtime, not the environment
    # the task's credential is revoked when the task ends
    status, _, body = raw(
        local_databricks, "GET", "/api/2.0/preview/scim/v2/Me", token=seen["token"]
    )
    assert status == 401, body


def test_workspace_client_without_arguments_in_a_notebook(local_databricks, w):
    local_databricks.put_secret("scope", "key", "s3cr3t")
    source = (
        "# Databricks notebook source\n"
        "from databricks.sdk import WorkspaceClient\n"
        "w = WorkspaceClient()\n"
        "# COMMAND ----------\n"
        "dbutils.notebook.exit(w.current_user.me().user_name + ' ' + "
        "w.dbutils.secrets.get('scope', 'key'))\n"
    )
    write_file(local_databricks, "/Workspace/Shared/auth_nb.py", source)
    run = _submit(w, {"notebook_task": {"notebook_path": "/Shared/auth_nb"}})
    output = w.jobs.get_run_output(run.tasks[0].run_id)
    assert run.state.result_state == jobs.RunResultState.SUCCESS, output.error_trace
    assert output.notebook_output.result == "local.user@example.com s3cr3t"


def test_a_notebook_imports_a_workspace_file_beside_it(local_databricks, w):
    # As on Databricks (DBR 13+): the notebook's folder is on sys.path, so a helper module
    # uploaded next to it (the way brickpipes ships brickpipes_remote) is importable.
    write_file(
        local_databricks, "/Workspace/Shared/nb_dir/ldhelper_beside.py", "VALUE = 'beside'\n"
    )
    source = (
        "# Databricks notebook source\n"
        "import ldhelper_beside\n"
        "# COMMAND ----------\n"
        "dbutils.notebook.exit(ldhelper_beside.VALUE)\n"
    )
    write_file(local_databricks, "/Workspace/Shared/nb_dir/imports.py", source)
    run = _submit(w, {"notebook_task": {"notebook_path": "/Shared/nb_dir/imports"}})
    output = w.jobs.get_run_output(run.tasks[0].run_id)
    assert run.state.result_state == jobs.RunResultState.SUCCESS, output.error_trace
    assert output.notebook_output.result == "beside"


def _wheel(directory) -> str:
    """A minimal pure-Python wheel (no build backend needed, installable offline)."""
    path = directory / "ldprobe_pkg-0.1-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr("ldprobe_pkg/__init__.py", "VALUE = 42\n")
        info = "ldprobe_pkg-0.1.dist-info/"
        wheel.writestr(
            info + "METADATA", "Metadata-Version: 2.1\nName: ldprobe-pkg\nVersion: 0.1\n"
        )
        wheel.writestr(
            info + "WHEEL",
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        wheel.writestr(
            info + "RECORD",
            f"ldprobe_pkg/__init__.py,,\n{info}METADATA,,\n{info}WHEEL,,\n{info}RECORD,,\n",
        )
    return str(path)


def test_pip_install_in_a_task_stays_in_the_task(local_databricks, w, script, tmp_path):
    wheel = _wheel(tmp_path)
    path = script(
        f"""
import json, os, shutil, subprocess, sys
first = os.environ["PATH"].split(os.pathsep)[0]
found = {{"python": shutil.which("python"), "pip": shutil.which("pip")}}
if subprocess.run([sys.executable, "-c", "import pip"], capture_output=True).returncode:
    subprocess.run(["python", "-m", "ensurepip"], check=True, capture_output=True)
# a notebook's `%pip install` / `!pip install`: the pip on PATH
subprocess.run(["pip", "install", "--no-index", "--no-deps", {wheel!r}], check=True,
               capture_output=True)
import importlib
importlib.invalidate_caches()
import ldprobe_pkg
print(json.dumps({{"first": first, "found": found, "executable": sys.executable,
                  "installed": ldprobe_pkg.__file__, "value": ldprobe_pkg.VALUE}}))
"""
    )
    run = _submit(w, {"spark_python_task": {"python_file": path}})
    output = w.jobs.get_run_output(run.tasks[0].run_id)
    assert run.state.result_state == jobs.RunResultState.SUCCESS, output.error_trace
    seen = json.loads(output.logs)
    env_root = seen["executable"].rsplit("/bin/", 1)[0]
    assert env_root.startswith(str(local_databricks.root))
    assert seen["first"] == env_root + "/bin"
    assert seen["found"] == {"python": env_root + "/bin/python", "pip": env_root + "/bin/pip"}
    assert seen["installed"].startswith(env_root + "/lib/")
    assert seen["value"] == 42
    # the host's interpreter never saw the package
    host = subprocess.run(
        [sys.executable, "-c", "import ldprobe_pkg"], capture_output=True, text=True
    )
    assert host.returncode != 0 and "ldprobe_pkg" in host.stderr
