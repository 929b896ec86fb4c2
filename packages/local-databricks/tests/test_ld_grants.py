"""Unity Catalog grants (permissions, effective-permissions) and ownership through the SDK."""

import inspect

import pytest
from databricks.sdk.errors import BadRequest, NotFound
from databricks.sdk.service.catalog import (
    GrantsAPI,
    PermissionsChange,
    Privilege,
    SecurableType,
    VolumeType,
)
from ld_helpers import make_client, raw

# databricks-sdk 0.41 takes the enum (lower-case values), newer ones a string (upper case)
_ENUM = "str" not in str(inspect.signature(GrantsAPI.get).parameters["securable_type"].annotation)


def kind(name: str):
    return SecurableType[name] if _ENUM else SecurableType[name].value


CATALOG, SCHEMA, VOLUME, TABLE = (kind(k) for k in ("CATALOG", "SCHEMA", "VOLUME", "TABLE"))


@pytest.fixture
def uc(w):
    """main.sales.pipes, made through the API by the PAT user."""
    w.catalogs.create("main")
    w.schemas.create("sales", "main")
    w.volumes.create("main", "sales", "pipes", VolumeType.MANAGED)
    return w


def grant(w, kind, name, principal, add=(), remove=()):
    change = PermissionsChange(principal=principal, add=list(add), remove=list(remove))
    return w.grants.update(kind, name, changes=[change])


def direct(w, kind, name, **kwargs):
    return {a.principal: {p.value for p in a.privileges} for a in
            w.grants.get(kind, name, **kwargs).privilege_assignments or []}  # fmt: skip


def test_update_and_get(local_databricks, uc):
    sp = local_databricks.client_id
    answer = grant(uc, CATALOG, "main", sp, [Privilege.USE_CATALOG, Privilege.CREATE_SCHEMA])
    assert [
        (a.principal, {p.value for p in a.privileges}) for a in answer.privilege_assignments
    ] == [(sp, {"USE_CATALOG", "CREATE_SCHEMA"})]
    grant(uc, CATALOG, "main", "users", [Privilege.SELECT])
    grant(uc, CATALOG, "main", sp, remove=[Privilege.CREATE_SCHEMA])
    assert direct(uc, CATALOG, "main") == {sp: {"USE_CATALOG"}, "users": {"SELECT"}}
    assert direct(uc, CATALOG, "main", principal="users") == {"users": {"SELECT"}}
    # the path's type in either case, as the SDKs send it; privileges in SQL spelling too
    status, _, body = raw(
        local_databricks, "GET", "/api/2.1/unity-catalog/permissions/catalog/MAIN"
    )
    assert status == 200 and len(body["privilege_assignments"]) == 2
    status, _, body = raw(
        local_databricks, "PATCH", "/api/2.1/unity-catalog/permissions/SCHEMA/main.sales",
        {"changes": [{"principal": sp, "add": ["USE SCHEMA", "CREATE_VOLUME"]}]},
    )  # fmt: skip
    assert status == 200
    assert body == {"privilege_assignments": [
        {"principal": sp, "privileges": ["CREATE_VOLUME", "USE_SCHEMA"]}
    ]}  # fmt: skip
    grant(uc, SCHEMA, "main.sales", sp, remove=[Privilege.USE_SCHEMA, Privilege.CREATE_VOLUME])
    assert direct(uc, SCHEMA, "main.sales") == {}


def test_effective_permissions_inherit_downward(local_databricks, uc):
    sp = local_databricks.client_id
    grant(uc, CATALOG, "main", sp, [Privilege.USE_CATALOG])
    grant(uc, SCHEMA, "main.sales", sp, [Privilege.USE_SCHEMA])
    grant(uc, VOLUME, "main.sales.pipes", sp, [Privilege.READ_VOLUME, Privilege.WRITE_VOLUME])
    grant(uc, CATALOG, "main", "users", [Privilege.SELECT])
    effective = uc.grants.get_effective(VOLUME, "main.sales.pipes", principal=sp)
    [assignment] = effective.privilege_assignments
    assert assignment.principal == sp
    got = {(p.privilege.value, p.inherited_from_name) for p in assignment.privileges}
    assert got == {
        ("READ_VOLUME", None),
        ("WRITE_VOLUME", None),
        ("USE_SCHEMA", "main.sales"),
        ("USE_CATALOG", "main"),
    }
    path = "/api/2.1/unity-catalog/effective-permissions/volume/main.sales.pipes"
    _, _, body = raw(local_databricks, "GET", path)
    by_principal = {a["principal"]: a["privileges"] for a in body["privilege_assignments"]}
    assert by_principal["users"] == [
        {"privilege": "SELECT", "inherited_from_type": "CATALOG", "inherited_from_name": "main"}
    ]
    assert {"privilege": "USE_SCHEMA", "inherited_from_type": "SCHEMA",
            "inherited_from_name": "main.sales"} in by_principal[sp]  # fmt: skip
    # the volume's own grants do not show on its schema
    schema_level = uc.grants.get_effective(SCHEMA, "main.sales", principal=sp)
    names = {p.privilege.value for p in schema_level.privilege_assignments[0].privileges}
    assert names == {"USE_SCHEMA", "USE_CATALOG"}


def test_tables(local_databricks, uc):
    local_databricks.create_table("main.sales.orders")
    sp = local_databricks.client_id
    grant(uc, TABLE, "main.sales.orders", sp, [Privilege.SELECT, Privilege.MODIFY])
    grant(uc, SCHEMA, "main.sales", sp, [Privilege.USE_SCHEMA])
    effective = uc.grants.get_effective(TABLE, "main.sales.orders")
    names = {p.privilege.value for p in effective.privilege_assignments[0].privileges}
    assert names == {"SELECT", "MODIFY", "USE_SCHEMA"}
    with pytest.raises(NotFound, match=r"main\.sales\.missing"):
        uc.grants.get(TABLE, "main.sales.missing")


@pytest.mark.parametrize(
    ("path", "body", "status", "text"),
    [
        ("catalog/main", {"changes": [{"principal": "users", "add": ["FLY"]}]}, 400, "FLY"),
        ("volume/main.sales.pipes", {"changes": [{"principal": "users", "add": ["USE_CATALOG"]}]},
         400, "USE_CATALOG is not applicable"),
        ("catalog/main", {"changes": [{"principal": "nobody", "add": ["BROWSE"]}]}, 404, "nobody"),
        ("catalog/main", {"changes": [{"add": ["BROWSE"]}]}, 400, "changes[0].principal"),
        ("catalog/main", {"changes": [{"principal": "users", "add": "BROWSE"}]}, 400,
         "changes[0].add"),
        ("catalog/main", {"changes": "x"}, 400, "changes"),
        ("warehouse/main", {"changes": []}, 400, "warehouse"),
        ("function/main.sales.f", {"changes": []}, 400, "function"),
        ("schema/main", {"changes": []}, 400, "main"),
        ("catalog/nope", {"changes": []}, 404, "nope"),
        ("schema/main.nope", {"changes": []}, 404, "main.nope"),
        ("volume/main.sales.nope", {"changes": []}, 404, "main.sales.nope"),
    ],
)  # fmt: skip
def test_bad_requests(local_databricks, uc, path, body, status, text):
    got, _, answer = raw(
        local_databricks, "PATCH", "/api/2.1/unity-catalog/permissions/" + path, body
    )
    assert got == status and text in answer["message"], answer
    if "nope" in path:  # an absent securable is 404 to GET too
        got, _, answer = raw(local_databricks, "GET", "/api/2.1/unity-catalog/permissions/" + path)
        assert got == 404
    assert direct(uc, CATALOG, "main") == {}  # nothing applied


def test_sdk_errors(uc):
    with pytest.raises(NotFound):
        uc.grants.get_effective(SCHEMA, "main.absent")
    with pytest.raises(BadRequest, match="USE_CATALOG"):
        grant(uc, VOLUME, "main.sales.pipes", "users", [Privilege.USE_CATALOG])


def test_pages_read_until_no_token(local_databricks, uc):
    for principal in ("users", "admins", local_databricks.client_id):
        grant(uc, CATALOG, "main", principal, [Privilege.USE_CATALOG])
    seen, token, pages = [], None, 0
    while True:
        query = "max_results=0" + (f"&page_token={token}" if token else "")
        status, _, body = raw(
            local_databricks, "GET", f"/api/2.1/unity-catalog/permissions/catalog/main?{query}"
        )
        assert status == 200
        pages += 1
        seen += [a["principal"] for a in body.get("privilege_assignments", [])]
        token = body.get("next_page_token")
        if not token:
            break
    assert pages == 2 and sorted(seen) == sorted(["users", "admins", local_databricks.client_id])
    status, _, body = raw(
        local_databricks, "GET", "/api/2.1/unity-catalog/permissions/catalog/main?max_results=10"
    )
    assert status == 400 and "max_results" in body["message"]


def test_grants_go_with_their_securable(local_databricks, uc):
    sp = local_databricks.client_id
    grant(uc, SCHEMA, "main.sales", sp, [Privilege.USE_SCHEMA])
    grant(uc, VOLUME, "main.sales.pipes", sp, [Privilege.READ_VOLUME])
    uc.schemas.update("main.sales", new_name="shop")
    assert direct(uc, SCHEMA, "main.shop") == {sp: {"USE_SCHEMA"}}
    assert direct(uc, VOLUME, "main.shop.pipes") == {sp: {"READ_VOLUME"}}
    uc.schemas.delete("main.shop", force=True)
    uc.schemas.create("shop", "main")
    uc.volumes.create("main", "shop", "pipes", VolumeType.MANAGED)
    assert direct(uc, SCHEMA, "main.shop") == {}
    assert direct(uc, VOLUME, "main.shop.pipes") == {}


def test_owner_is_the_creator_and_can_be_handed_over(local_databricks, uc):
    me = uc.current_user.me().user_name
    assert uc.schemas.get("main.sales").owner == me
    assert uc.volumes.read("main.sales.pipes").owner == me
    sp = local_databricks.client_id
    oauth = make_client(local_databricks, token=None, client_id=sp,
                        client_secret=local_databricks.client_secret)  # fmt: skip
    assert oauth.current_user.me().user_name == sp
    assert oauth.schemas.create("jobs", "main").owner == sp
    assert uc.schemas.update("main.sales", owner=sp).owner == sp
    assert uc.schemas.get("main.sales").owner == sp
    assert uc.catalogs.update("main", owner="users").owner == "users"
