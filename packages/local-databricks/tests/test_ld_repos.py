"""The Repos API (Git folders) through the SDK's own methods."""

import pytest
from databricks.sdk.errors import InvalidParameterValue, NotFound, ResourceAlreadyExists
from databricks.sdk.service import workspace
from ld_helpers import raw

URL = "https://github.com/databricks/cli.git"


def test_create_get_list_delete(local_databricks, w):
    me = w.current_user.me().user_name
    created = w.repos.create(URL, "GitHub", path="/Repos/team/cli")
    assert isinstance(created, workspace.CreateRepoResponse)
    assert (created.path, created.url, created.provider, created.branch) == (
        "/Repos/team/cli",
        URL,
        "gitHub",
        "main",
    )
    got = w.repos.get(created.id)
    assert isinstance(got, workspace.GetRepoResponse) and got.path == "/Repos/team/cli"
    status = w.workspace.get_status("/Repos/team/cli")
    assert status.object_type == workspace.ObjectType.REPO and status.object_id == created.id

    home = w.repos.create(
        "https://gitlab.com/acme/tools",
        "gitlab",
        sparse_checkout=workspace.SparseCheckout(patterns=["src"]),
    )
    assert home.path == f"/Users/{me}/tools" and home.provider == "gitLab"
    assert home.sparse_checkout.patterns == ["src"]

    listed = list(w.repos.list())  # no prefix: the repos under /Repos
    assert [(r.id, r.path) for r in listed] == [(created.id, "/Repos/team/cli")]
    assert all(isinstance(r, workspace.RepoInfo) for r in listed)
    assert [r.path for r in w.repos.list(path_prefix=f"/Workspace/Users/{me}")] == [home.path]
    assert {r.id for r in w.repos.list(path_prefix="/")} == {created.id}
    assert list(w.repos.list(path_prefix="/Shared")) == []

    w.repos.delete(created.id)
    with pytest.raises(NotFound, match=f"Repo {created.id} does not exist"):
        w.repos.get(created.id)
    with pytest.raises(NotFound):
        w.repos.delete(created.id)
    with pytest.raises(NotFound):
        w.workspace.get_status("/Repos/team/cli")
    assert list(w.repos.list()) == []

    # a folder deleted through the Workspace API takes its repo with it
    w.workspace.delete(home.path, recursive=True)
    with pytest.raises(NotFound):
        w.repos.get(home.id)
    local_databricks.reset()
    assert list(w.repos.list(path_prefix="/Users")) == []


def test_list_pages_through_next_page_token(local_databricks, w):
    ids = [w.repos.create(f"https://github.com/o/r{i:02}", "gitHub", path=f"/Repos/p/r{i:02}").id
           for i in range(45)]  # fmt: skip
    assert [r.id for r in w.repos.list()] == ids  # the SDK follows next_page_token
    status, _, first = raw(local_databricks, "GET", "/api/2.0/repos")
    assert status == 200 and len(first["repos"]) == 20 and first["next_page_token"]
    status, _, second = raw(
        local_databricks, "GET", f"/api/2.0/repos?next_page_token={first['next_page_token']}"
    )
    assert [r["id"] for r in second["repos"]] == ids[20:40]
    status, _, body = raw(local_databricks, "GET", "/api/2.0/repos?next_page_token=%25%25")
    assert status == 400 and "next_page_token" in body["message"]


def test_bad_ids_and_bodies(local_databricks, w):
    with pytest.raises(NotFound, match="Repo 12345 does not exist"):
        w.repos.get(12345)
    status, _, body = raw(local_databricks, "GET", "/api/2.0/repos/abc")
    assert (status, body["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    assert "repo_id" in body["message"]
    with pytest.raises(InvalidParameterValue, match="provider"):
        w.repos.create(URL, "svn")
    with pytest.raises(InvalidParameterValue, match="url"):
        w.repos.create("git@github.com:databricks/cli.git", "gitHub")
    with pytest.raises(InvalidParameterValue, match="/Repos/<folder>/<name>"):
        w.repos.create(URL, "gitHub", path="/Repos/cli")
    with pytest.raises(NotFound, match="parent folder"):
        w.repos.create(URL, "gitHub", path="/Shared/missing/cli")
    w.repos.create(URL, "gitHub", path="/Shared/cli")
    with pytest.raises(ResourceAlreadyExists):
        w.repos.create(URL, "gitHub", path="/Shared/cli")
    for bad, field in (
        ({"provider": "gitHub"}, "url"),
        ({"url": 5, "provider": "gitHub"}, "url"),
        ({"url": URL}, "provider"),
        ({"url": URL, "provider": "gitHub", "path": ["x"]}, "path"),
        ({"url": URL, "provider": "gitHub", "git_credential_id": "one"}, "git_credential_id"),
        ({"url": URL, "provider": "gitHub", "sparse_checkout": "src"}, "sparse_checkout"),
        ({"url": URL, "provider": "gitHub", "sparse_checkout": {"patterns": [None]}}, "patterns"),
    ):
        status, _, body = raw(local_databricks, "POST", "/api/2.0/repos", bad)
        assert status == 400 and field in body["message"], (bad, body)
    status, _, body = raw(local_databricks, "POST", "/api/2.0/repos", b"[1]")
    assert status == 400 and body["error_code"] == "MALFORMED_REQUEST"
    status, _, body = raw(local_databricks, "GET", "/api/2.0/repos?path_prefix=Repos")
    assert status == 400
