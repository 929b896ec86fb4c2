"""Workspace object permissions (jobs, clusters, folders) through the SDK."""

import pytest
from databricks.sdk.errors import BadRequest, NotFound
from databricks.sdk.service import iam, jobs
from ld_helpers import make_client, raw


def acl(permissions) -> dict:
    """{(kind, name): {(level, inherited)}} of an ObjectPermissions / JobPermissions."""
    result = {}
    for entry in permissions.access_control_list:
        if entry.user_name:
            key = ("user", entry.user_name)
        elif entry.service_principal_name:
            key = ("sp", entry.service_principal_name)
        else:
            key = ("group", entry.group_name)
        result[key] = {(p.permission_level.value, p.inherited) for p in entry.all_permissions}
    return result


def make_job(w) -> str:
    task = jobs.Task(
        task_key="a",
        spark_python_task=jobs.SparkPythonTask(python_file="dbfs:/a.py"),
        existing_cluster_id="c",
    )
    return str(w.jobs.create(name="j", tasks=[task]).job_id)


def test_job_owner_and_admins(local_databricks, w):
    job_id = make_job(w)
    me = w.current_user.me().user_name
    got = w.jobs.get_permissions(job_id)
    assert got.object_id == f"/jobs/{job_id}" and got.object_type == "job"
    assert acl(got) == {
        ("user", me): {("IS_OWNER", False)},
        ("group", "admins"): {("CAN_MANAGE", True)},
    }
    sp = local_databricks.client_id
    updated = w.permissions.update(
        "jobs",
        job_id,
        access_control_list=[
            iam.AccessControlRequest(
                service_principal_name=sp, permission_level=iam.PermissionLevel.CAN_MANAGE_RUN
            ),
            iam.AccessControlRequest(
                group_name="users", permission_level=iam.PermissionLevel.CAN_VIEW
            ),
        ],
    )
    assert acl(updated)[("sp", sp)] == {("CAN_MANAGE_RUN", False)}
    assert acl(updated)[("user", me)] == {("IS_OWNER", False)}  # PATCH merges
    # PUT replaces the direct entries; the job keeps its owner
    replaced = w.permissions.set(
        "jobs",
        job_id,
        access_control_list=[
            iam.AccessControlRequest(
                group_name="users", permission_level=iam.PermissionLevel.CAN_VIEW
            )
        ],
    )
    assert set(acl(replaced)) == {("user", me), ("group", "users"), ("group", "admins")}
    # handing the job to the service principal moves IS_OWNER
    handed = w.permissions.update(
        "jobs",
        job_id,
        access_control_list=[
            iam.AccessControlRequest(
                service_principal_name=sp, permission_level=iam.PermissionLevel.IS_OWNER
            )
        ],
    )
    assert acl(handed)[("sp", sp)] == {("IS_OWNER", False)} and ("user", me) not in acl(handed)
    levels = w.permissions.get_permission_levels("jobs", job_id).permission_levels
    assert [level.permission_level.value for level in levels] == [
        "CAN_VIEW", "CAN_MANAGE_RUN", "IS_OWNER", "CAN_MANAGE",
    ]  # fmt: skip
    w.jobs.delete(int(job_id))
    with pytest.raises(NotFound):
        w.jobs.get_permissions(job_id)


def test_job_created_by_a_service_principal(local_databricks):
    sp = local_databricks.client_id
    oauth = make_client(local_databricks, token=None, client_id=sp,
                        client_secret=local_databricks.client_secret)  # fmt: skip
    job_id = make_job(oauth)
    assert acl(oauth.jobs.get_permissions(job_id))[("sp", sp)] == {("IS_OWNER", False)}


def test_directories_and_clusters(local_databricks, w):
    me = w.current_user.me().user_name
    w.workspace.mkdirs(f"/Users/{me}/.bundle/dev")
    folder = w.workspace.get_status(f"/Users/{me}/.bundle/dev").object_id
    got = w.permissions.get("directories", str(folder))
    assert got.object_id == f"/directories/{folder}" and got.object_type == "directory"
    assert acl(got) == {
        ("user", me): {("CAN_MANAGE", False), ("CAN_MANAGE", True)},
        ("group", "admins"): {("CAN_MANAGE", True)},
    }
    w.workspace.mkdirs("/Shared/pipes")
    shared = w.workspace.get_status("/Shared/pipes").object_id
    assert acl(w.permissions.get("directories", str(shared)))[("group", "users")] == {
        ("CAN_MANAGE", True)
    }
    cluster_id = local_databricks.add_cluster()["cluster_id"]
    assert acl(w.permissions.get("clusters", cluster_id)) == {
        ("user", me): {("CAN_MANAGE", False)},
        ("group", "admins"): {("CAN_MANAGE", True)},
    }
    w.workspace.delete(f"/Users/{me}/.bundle", recursive=True)
    with pytest.raises(NotFound):
        w.permissions.get("directories", str(folder))


@pytest.mark.parametrize(
    ("path", "method", "body", "status", "text"),
    [
        ("jobs/1", "GET", None, 404, "Job 1"),
        ("clusters/nope", "GET", None, 404, "nope"),
        ("directories/42", "GET", None, 404, "42"),
        ("directories/x", "PATCH", {"access_control_list": []}, 404, "x"),
        ("widgets/1", "GET", None, 400, "widgets"),
        ("JOB", "PATCH", {"access_control_list": [
            {"group_name": "users", "permission_level": "CAN_FLY"}]}, 400, "CAN_FLY"),
        ("JOB", "PATCH", {"access_control_list": [
            {"group_name": "users", "permission_level": "CAN_RESTART"}]}, 400, "CAN_RESTART"),
        ("JOB", "PATCH", {"access_control_list": [
            {"user_name": "nobody@example.com", "permission_level": "CAN_VIEW"}]}, 400, "nobody"),
        ("JOB", "PATCH", {"access_control_list": [{"permission_level": "CAN_VIEW"}]}, 400,
         "access_control_list[0]"),
        ("JOB", "PUT", {"access_control_list": [{"group_name": "users"}]}, 400,
         "access_control_list[0].permission_level"),
        ("JOB", "PUT", {"access_control_list": "x"}, 400, "access_control_list"),
        ("JOB", "PATCH", {"access_control_list": [
            {"group_name": "users", "permission_level": "IS_OWNER"}]}, 400, "group"),
    ],
)  # fmt: skip
def test_bad_requests(local_databricks, w, path, method, body, status, text):
    job_id = make_job(w)
    path = path.replace("JOB", f"jobs/{job_id}")
    got, _, answer = raw(local_databricks, method, "/api/2.0/permissions/" + path, body)
    assert got == status and text in answer["message"], answer
    assert len(w.jobs.get_permissions(job_id).access_control_list) == 2  # nothing applied


def test_bad_level_through_the_sdk(w):
    job_id = make_job(w)
    with pytest.raises(BadRequest, match="CAN_ATTACH_TO"):
        w.permissions.update(
            "jobs",
            job_id,
            access_control_list=[
                iam.AccessControlRequest(
                    group_name="users", permission_level=iam.PermissionLevel.CAN_ATTACH_TO
                )
            ],
        )
