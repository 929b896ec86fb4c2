"""The local Entra ID token endpoint, and the identities behind each kind of credential."""

import json
import urllib.error
import urllib.parse
import urllib.request

import pytest
from databricks.sdk.service.catalog import VolumeType
from ld_helpers import make_client, raw

DATABRICKS_RESOURCE = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d"
GOOD = {
    "grant_type": "client_credentials",
    "client_id": "local-client",
    "client_secret": "local-secret",  # pragma: allowlist secret
}


def post_form(url: str, form: dict) -> tuple[int, dict]:
    data = urllib.parse.urlencode(form).encode()
    request = urllib.request.Request(url, data=data, method="POST")
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_v1_and_v2_tokens_work_on_the_api(local_databricks):
    status, v1 = post_form(
        local_databricks.entra_token_url(), {**GOOD, "resource": DATABRICKS_RESOURCE}
    )
    assert status == 200 and v1["token_type"] == "Bearer" and int(v1["expires_in"]) > 0
    assert v1["resource"] == DATABRICKS_RESOURCE
    url = local_databricks.entra_token_url("local-tenant", v2=True)
    assert url == f"{local_databricks.url}/local-entra/local-tenant/oauth2/v2.0/token"
    status, v2 = post_form(url, {**GOOD, "scope": DATABRICKS_RESOURCE + "/.default"})
    assert status == 200 and isinstance(v2["expires_in"], int)
    for token in (v1["access_token"], v2["access_token"]):
        w = make_client(local_databricks, token=token)
        me = w.current_user.me()
        assert me.user_name == "local-client" and me.id
        assert [p.application_id for p in w.service_principals.list(
            filter='applicationId eq "local-client"')] == ["local-client"]  # fmt: skip
    assert raw(local_databricks, "GET", "/api/2.0/clusters/list", token="local-secret")[0] == 401


@pytest.mark.parametrize(
    ("tenant", "form", "status", "error", "code"),
    [
        ("other-tenant", GOOD, 400, "invalid_request", "AADSTS90002"),
        ("local-tenant", {**GOOD, "client_id": "other"}, 400, "unauthorized_client",
         "AADSTS700016"),
        ("local-tenant", {**GOOD, "client_secret": "wrong"}, 401, "invalid_client",
         "AADSTS7000215"),
        ("local-tenant", {**GOOD, "client_secret": ""}, 401, "invalid_client", "AADSTS7000216"),
        ("local-tenant", {**GOOD, "grant_type": "password"}, 400, "unsupported_grant_type",
         "AADSTS70003"),
        ("local-tenant", {"grant_type": "client_credentials"}, 400, "invalid_request",
         "AADSTS900144"),
        ("local-tenant", GOOD, 400, "invalid_request", "AADSTS900144"),  # no resource
    ],
)  # fmt: skip
def test_entra_errors(local_databricks, tenant, form, status, error, code):
    got, body = post_form(local_databricks.entra_token_url(tenant), {**form})
    assert got == status and body["error"] == error, body
    assert body["error_description"].startswith(code + ":")
    assert body["error_codes"] == [int(code[len("AADSTS") :])]


def test_v2_scope_must_be_default(local_databricks):
    url = local_databricks.entra_token_url(v2=True)
    got, body = post_form(url, {**GOOD, "scope": DATABRICKS_RESOURCE + "/user_impersonation"})
    assert got == 400 and body["error"] == "invalid_scope"


def test_configured_app(tmp_path):
    from local_databricks import LocalDatabricks
    from local_databricks.entra import EntraApp

    with LocalDatabricks(root=tmp_path, entra=EntraApp("t1", "app-1", "s1")) as ld:
        form = {"grant_type": "client_credentials", "client_id": "app-1", "client_secret": "s1"}
        status, body = post_form(ld.entra_token_url(), {**form, "resource": "r"})
        assert make_client(ld, token=body["access_token"]).current_user.me().user_name == "app-1"
        assert status == 200 and ld.entra_token_url().startswith(f"{ld.url}/local-entra/t1/")
        assert post_form(ld.entra_token_url(), {**GOOD, "resource": "r"})[0] == 400


def test_owner_is_the_identity_of_the_credential(local_databricks):
    _, entra_token = post_form(local_databricks.entra_token_url(), {**GOOD, "resource": "r"})
    clients = {
        "pat": make_client(local_databricks),
        "oauth-m2m": make_client(local_databricks, token=None,
                                 client_id=local_databricks.client_id,
                                 client_secret=local_databricks.client_secret),
        "entra": make_client(local_databricks, token=entra_token["access_token"]),
    }  # fmt: skip
    clients["pat"].catalogs.create("main")
    for name, w in clients.items():
        me = w.current_user.me().user_name
        schema = w.schemas.create(name.replace("-", "_"), "main")
        assert schema.owner == me and schema.created_by == me, name
        volume = w.volumes.create("main", schema.name, "v", VolumeType.MANAGED)
        assert volume.owner == me, name
    assert {w.current_user.me().user_name for w in clients.values()} == {
        "local.user@example.com", local_databricks.client_id, "local-client"
    }  # fmt: skip
