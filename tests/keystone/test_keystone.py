"""Keystone mode against a real Keystone: tokens are required and checked, identities come
from Keystone (never from the client), Tessera's admin API needs Keystone's admin role, and
a Keystone outage spares cached tokens."""
from __future__ import annotations

import requests

from conftest import keystone, password_token


def call(node, method, path, token=None, **kw):
    headers = kw.pop("headers", {})
    if token is not None:
        headers["X-Auth-Token"] = token
    return requests.request(method, node.url + path, headers=headers, timeout=30, **kw)


def test_version_documents_and_health_need_no_token(node):
    assert call(node, "GET", "/").status_code == 300
    assert call(node, "GET", "/versions").status_code == 200
    assert call(node, "GET", "/healthcheck").status_code == 200


def test_calls_without_a_valid_token_are_401_with_where_to_get_one(node):
    for token in (None, "garbage", "admin:admin:admin", ""):
        r = call(node, "GET", "/v2/images", token)
        assert r.status_code == 401, (token, r.status_code, r.text)
        assert r.headers["WWW-Authenticate"].startswith('Keystone uri="http://127.0.0.1:5000')
        assert r.json()["error"]["code"] == 401
    # The noauth convention grants nothing in Keystone mode, and creates nothing.
    r = call(node, "POST", "/v2/images", "x:y:admin", json={"name": "anon"})
    assert r.status_code == 401
    r = call(node, "PUT", "/tessera/v1/workers/reaper/settings/grace", None, data="0")
    assert r.status_code == 401


def test_identity_comes_from_the_token(node, identities):
    alice, bob, rita = (identities.token(u) for u in ("alice", "bob", "rita"))
    r = call(node, "POST", "/v2/images", alice, json={"name": "ks-img", "disk_format": "raw",
                                                       "container_format": "bare"})
    assert r.status_code == 201, r.text
    img = r.json()
    assert img["owner"] == identities.project["tessA"]
    # Same project, reader role: sees it, may not change it.
    assert call(node, "GET", f"/v2/images/{img['id']}", rita).status_code == 200
    r = call(node, "PATCH", f"/v2/images/{img['id']}", rita,
             headers={"Content-Type": "application/openstack-images-v2.1-json-patch"},
             json=[{"op": "add", "path": "/k", "value": "v"}])
    assert r.status_code == 403, r.text
    # Another project: the private image does not exist for it.
    assert call(node, "GET", f"/v2/images/{img['id']}", bob).status_code == 404
    ids = [i["id"] for i in call(node, "GET", "/v2/images", bob).json()["images"]]
    assert img["id"] not in ids
    # A member may not make it public; Keystone's admin may.
    patch = [{"op": "replace", "path": "/visibility", "value": "public"}]
    hdr = {"Content-Type": "application/openstack-images-v2.1-json-patch"}
    assert call(node, "PATCH", f"/v2/images/{img['id']}", alice, headers=hdr,
                json=patch).status_code == 403
    admin = identities.token("admin")
    assert call(node, "PATCH", f"/v2/images/{img['id']}", admin, headers=hdr,
                json=patch).status_code == 200


def test_admin_api_needs_keystones_admin_role(node, identities):
    assert call(node, "GET", "/tessera/v1/workers", identities.token("alice")).status_code == 403
    assert call(node, "GET", "/tessera/v1/workers", identities.token("admin")).status_code == 200


def test_a_disabled_users_token_is_refused(node, identities):
    a = identities.admin_api
    uid = a.ensure("users", {"name": "dora", "domain_id": "default", "password": "secretdora"})
    a.grant(identities.project["tessA"], uid, "member")
    a.set_enabled("users", uid, True)
    token = password_token("dora", "secretdora", "tessA")
    a.set_enabled("users", uid, False)
    try:
        assert call(node, "GET", "/v2/images", token).status_code == 401
    finally:
        a.set_enabled("users", uid, True)


def test_keystone_outage_spares_cached_tokens_only(node, identities):
    cached = identities.token("alice")
    assert call(node, "GET", "/v2/images", cached).status_code == 200
    unseen = identities.token("bob")
    keystone("stop")
    try:
        assert call(node, "GET", "/v2/images", cached).status_code == 200
        r = call(node, "GET", "/v2/images", unseen)
        assert r.status_code == 503, r.text
    finally:
        keystone("start")
    assert call(node, "GET", "/v2/images", unseen).status_code == 200


def test_tokens_of_another_scope_get_what_glance_answers(node, identities):
    auth = {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": "secretadmin"}}},
        "scope": {"system": {"all": True}}}
    r = requests.post("http://127.0.0.1:5000/v3/auth/tokens", json={"auth": auth}, timeout=30)
    system = r.headers["X-Subject-Token"]
    alice = identities.token("alice")
    img = call(node, "POST", "/v2/images", alice, json={"name": "scoped"}).json()
    # Glance's rules are project-scoped: a system token may not list or create (403), and an
    # image does not exist for it (404, as glance-tempest-plugin's project-admin tests check).
    assert call(node, "GET", "/v2/images", system).status_code == 403
    assert call(node, "POST", "/v2/images", system, json={"name": "x"}).status_code == 403
    r = call(node, "GET", f"/v2/images/{img['id']}", system)
    assert r.status_code == 404, r.text
    # Tessera's own admin API is for system admins too.
    assert call(node, "GET", "/tessera/v1/workers", system).status_code == 200
    assert call(node, "DELETE", f"/v2/images/{img['id']}", alice).status_code == 204
