"""SCIM Me, Users, Groups and ServicePrincipals through the SDK's own methods."""

import pytest
from databricks.sdk.errors import BadRequest, NotFound
from databricks.sdk.service import iam
from ld_helpers import assert_roundtrip, make_client, raw


def test_me_and_lists(local_databricks, w):
    me = w.current_user.me()
    users = list(w.users.list())
    assert [u.user_name for u in users] == [me.user_name] and users[0].id == me.id
    assert w.users.get(me.id).user_name == me.user_name
    principals = list(w.service_principals.list())
    # the OAuth client's and the local Entra ID app's service principals
    assert {p.application_id for p in principals} == {local_databricks.client_id, "local-client"}
    groups = {g.display_name: g for g in w.groups.list()}
    assert set(groups) == {"users", "admins"}
    assert {m.value for m in groups["users"].members} == {me.id, *(p.id for p in principals)}
    assert {g.display for g in me.groups} == {"users", "admins"}
    _, _, body = raw(local_databricks, "GET", "/api/2.0/preview/scim/v2/Users")
    assert_roundtrip(iam.ListUsersResponse.from_dict(body), body)
    oauth = make_client(
        local_databricks,
        token=None,
        client_id=local_databricks.client_id,
        client_secret=local_databricks.client_secret,
    )
    assert oauth.current_user.me().user_name == local_databricks.client_id


def test_filters(local_databricks, w):
    me = w.current_user.me()
    name = me.user_name
    assert [u.id for u in w.users.list(filter=f'userName eq "{name.upper()}"')] == [me.id]
    assert list(w.users.list(filter='userName ne "' + name + '"')) == []
    assert (
        len(list(w.users.list(filter='(userName co "local" and active eq true) or id eq "1"'))) == 1
    )
    assert [g.display_name for g in w.groups.list(filter='displayName sw "adm"')] == ["admins"]
    assert list(w.users.list(filter='emails.value eq "nobody@example.com"')) == []
    for bad in ('userName gt "a"', "userName eq", 'userName eq "a" and', '(userName eq "a"', "~"):
        with pytest.raises(BadRequest, match="invalidFilter"):
            list(w.users.list(filter=bad))
    with pytest.raises(NotFound):
        w.users.get("123")
    status, _, body = raw(local_databricks, "GET", "/api/2.0/preview/scim/v2/Users?startIndex=x")
    assert status == 400 and "startIndex" in body["message"]
    status, _, body = raw(local_databricks, "GET", "/api/2.0/preview/scim/v2/Users?startIndex=2")
    assert status == 200 and "Resources" not in body and body["totalResults"] == 1
