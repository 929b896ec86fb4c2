"""Libraries a task declares: cluster ``libraries`` and serverless environment ``dependencies``
are installed into the task's own environment before it runs; what the interpreter already has
is not installed again; a failed installation fails the task with the installer's error."""

import base64
import hashlib
import io
import time
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from databricks.sdk.service import compute, jobs
from ld_helpers import raw

WAIT = timedelta(seconds=120)
CLUSTER = {"spark_version": "16.4.x-scala2.12", "node_type_id": "i3.xlarge", "num_workers": 0}
VOLUME = "/Volumes/main/libs/wheels"
IMPORTS = """
import ldlibdemo
print("value:", ldlibdemo.VALUE, "from:", ldlibdemo.__file__)
"""


def wheel(name: str = "ldlibdemo", version: str = "1.0", value: str = "declared") -> bytes:
    """A pure-Python wheel built by hand (no build backend, no network): one module."""
    dist_info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": f"VALUE = {value!r}\n",
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist_info}/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = []
    for path, text in files.items():
        digest = hashlib.sha256(text.encode()).digest()
        encoded = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        record.append(f"{path},sha256={encoded},{len(text.encode())}")
    record.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = "\n".join(record) + "\n"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return buffer.getvalue()


def upload_wheel(w, path: str = f"{VOLUME}/ldlibdemo-1.0-py3-none-any.whl", **options) -> str:
    """The wheel uploaded through the SDK's Files API, as a team uploads a library."""
    w.files.upload(path, io.BytesIO(wheel(**options)), overwrite=True)
    return path


def submit(w, task: jobs.SubmitTask, **settings) -> jobs.Run:
    return w.jobs.submit(run_name="libs", tasks=[task], **settings).result(timeout=WAIT)


def submit_failing(w, task: jobs.SubmitTask) -> jobs.Run:
    """A run that ends in INTERNAL_ERROR (which the SDK's waiter raises for)."""
    run_id = w.jobs.submit(run_name="libs", tasks=[task]).run_id
    deadline = time.monotonic() + WAIT.total_seconds()
    while time.monotonic() < deadline:
        run = w.jobs.get_run(run_id)
        if run.state.life_cycle_state in (
            jobs.RunLifeCycleState.TERMINATED,
            jobs.RunLifeCycleState.INTERNAL_ERROR,
        ):
            return run
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} did not end")


def task_output(w, run: jobs.Run) -> jobs.RunOutput:
    return w.jobs.get_run_output(run.tasks[0].run_id)


def env_dir(local_databricks, run: jobs.Run) -> Path:
    return Path(local_databricks.root) / "runs" / str(run.run_id) / "t" / "python-env"


def cluster_task(python_file: str, libraries: list[compute.Library]) -> jobs.SubmitTask:
    """Task ``t``: ``python_file`` on a new cluster that installs ``libraries``."""
    return jobs.SubmitTask(
        task_key="t",
        new_cluster=compute.ClusterSpec(**CLUSTER),
        spark_python_task=jobs.SparkPythonTask(python_file=python_file),
        libraries=libraries,
    )


def test_a_cluster_wheel_library_is_installed_for_its_task_only(local_databricks, w, script):
    path = upload_wheel(w)
    task = cluster_task(script(IMPORTS), [compute.Library(whl=path)])
    run = submit(w, task)
    logs = task_output(w, run).logs or ""
    assert run.state.result_state == jobs.RunResultState.SUCCESS, task_output(w, run).error
    assert "value: declared" in logs
    # installed into the task's own environment, not the interpreter the server runs tasks on
    assert f"from: {env_dir(local_databricks, run)}" in logs
    again = jobs.SubmitTask(
        task_key="t",
        new_cluster=compute.ClusterSpec(**CLUSTER),
        spark_python_task=jobs.SparkPythonTask(python_file=script(IMPORTS, "again.py")),
    )
    undeclared = submit(w, again)
    assert undeclared.state.result_state == jobs.RunResultState.FAILED
    assert "No module named 'ldlibdemo'" in (task_output(w, undeclared).error or "")


def test_serverless_dependencies_install_a_volume_wheel(local_databricks, w, script):
    path = upload_wheel(w, value="serverless")
    environment = jobs.JobEnvironment(
        environment_key="default",
        spec=compute.Environment(client="2", dependencies=[path]),
    )
    task = jobs.SubmitTask(
        task_key="t",
        environment_key="default",
        spark_python_task=jobs.SparkPythonTask(python_file=script(IMPORTS)),
    )
    run = submit(w, task, environments=[environment])
    output = task_output(w, run)
    assert run.state.result_state == jobs.RunResultState.SUCCESS, output.error
    assert "value: serverless" in (output.logs or "")


def test_dbfs_and_workspace_wheels_are_read_from_the_servers_storage(local_databricks, w, script):
    w.dbfs.upload("dbfs:/libs/ldlibdemo-1.0-py3-none-any.whl", io.BytesIO(wheel()))
    task = cluster_task(
        script(IMPORTS), [compute.Library(whl="dbfs:/libs/ldlibdemo-1.0-py3-none-any.whl")]
    )
    run = submit(w, task)
    assert run.state.result_state == jobs.RunResultState.SUCCESS, task_output(w, run).error


def test_requirements_the_interpreter_has_start_no_installer(local_databricks, w, script):
    from importlib.metadata import version

    task = jobs.SubmitTask(
        task_key="t",
        new_cluster=compute.ClusterSpec(**CLUSTER),
        spark_python_task=jobs.SparkPythonTask(python_file=script("print('ran')")),
        libraries=[
            compute.Library(
                pypi=compute.PythonPyPiLibrary(f"dagster-pipes=={version('dagster-pipes')}")
            ),
            compute.Library(pypi=compute.PythonPyPiLibrary("databricks-sdk>=0.1")),
            compute.Library(jar="/Volumes/main/libs/jars/connector.jar"),
        ],
    )
    run = submit(w, task)
    logs = task_output(w, run).logs or ""
    assert run.state.result_state == jobs.RunResultState.SUCCESS
    assert not list(env_dir(local_databricks, run).glob("requirements-*"))
    # a JVM library is accepted and not installed, and the task's log says so first
    assert logs.startswith("local-databricks: library jar ")
    assert logs.rstrip().endswith("ran")


def test_a_failed_installation_fails_the_task_with_the_installers_error(w, script):
    path = f"{VOLUME}/broken-1.0-py3-none-any.whl"
    w.files.upload(path, io.BytesIO(b"not a zip"), overwrite=True)
    task = cluster_task(script(IMPORTS), [compute.Library(whl=path)])
    run = submit_failing(w, task)
    (task_run,) = run.tasks
    assert task_run.state.life_cycle_state == jobs.RunLifeCycleState.INTERNAL_ERROR
    assert task_run.state.result_state == jobs.RunResultState.FAILED
    assert task_run.status.termination_details.code == jobs.TerminationCodeCode(
        "LIBRARY_INSTALLATION_ERROR"
    )
    message = task_run.state.state_message
    assert message.startswith("Library installation failed for library due to user error for whl")
    assert path in message
    output = w.jobs.get_run_output(task_run.run_id)
    assert output.error and output.error in message
    assert output.error_trace
    assert "local-databricks" not in message  # remote paths, never the server's folders


def test_a_missing_wheel_names_its_path(w, script):
    missing = f"{VOLUME}/absent-1.0-py3-none-any.whl"
    task = cluster_task(script(IMPORTS), [compute.Library(whl=missing)])
    run = submit_failing(w, task)
    assert run.tasks[0].state.life_cycle_state == jobs.RunLifeCycleState.INTERNAL_ERROR
    assert w.jobs.get_run_output(run.tasks[0].run_id).error == f"File {missing} does not exist."


@pytest.mark.parametrize(
    ("library", "field"),
    [
        ({}, "libraries[0]': a library specifies exactly one of"),
        ({"whl": "/a.whl", "jar": "/b.jar"}, "got ['whl', 'jar']"),
        ({"pypi": {"repo": "https://x"}}, "pypi.package': a package is required"),
        ({"pypi": {"package": 3}}, "pypi.package"),
        ("numpy", "libraries[0]': expected an object"),
    ],
)
def test_malformed_libraries_are_refused(local_databricks, library, field):
    body = {
        "tasks": [
            {
                "task_key": "t",
                "new_cluster": CLUSTER,
                "spark_python_task": {"python_file": "dbfs:/x.py"},
                "libraries": [library],
            }
        ]
    }
    status, _, answer = raw(local_databricks, "POST", "/api/2.1/jobs/runs/submit", body)
    assert status == 400
    assert field in answer["message"]
