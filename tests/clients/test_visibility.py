"""Visibility and policy: who sees and may do what (noauth identities)."""

from conftest import PROJ_A, PROJ_B, READER


def _ids(api, **params):
    return {i["id"] for i in api.list_all(**params)}


def test_private_image_invisible_to_other_project(server, cleanup, run_id, alice, bob, admin):
    img = alice.create(name=f"{run_id}-priv", visibility="private", disk_format="raw",
                       container_format="bare")
    cleanup.append(img["id"])
    assert img["owner"] == PROJ_A
    assert img["visibility"] == "private"

    r = bob.get(f"/v2/images/{img['id']}")
    assert r.status_code == 404
    assert bob.get(f"/v2/images/{img['id']}/file").status_code == 404
    assert bob.delete(f"/v2/images/{img['id']}").status_code == 404
    r = bob.patch(f"/v2/images/{img['id']}",
                  [{"op": "replace", "path": "/name", "value": "stolen"}])
    assert r.status_code == 404
    assert img["id"] not in _ids(bob)

    # admin sees everything
    assert admin.get(f"/v2/images/{img['id']}").status_code == 200
    assert img["id"] in _ids(admin)
    assert alice.show(img["id"])["name"] == f"{run_id}-priv"


def test_private_image_cannot_be_shared(server, cleanup, run_id, alice):
    img = alice.create(name=f"{run_id}-priv2", visibility="private")
    cleanup.append(img["id"])
    r = alice.post(f"/v2/images/{img['id']}/members", json={"member": PROJ_B})
    assert r.status_code == 403, r.text


def test_reader_cannot_write(server, cleanup, run_id, alice):
    reader = server.session(READER)
    r = reader.post("/v2/images", json={"name": f"{run_id}-by-reader"})
    assert r.status_code == 403, r.text
    img = alice.create(name=f"{run_id}-rd")
    cleanup.append(img["id"])
    # same project: the reader sees it but cannot change or delete it
    assert reader.get(f"/v2/images/{img['id']}").status_code == 200
    r = reader.patch(f"/v2/images/{img['id']}",
                     [{"op": "replace", "path": "/name", "value": "x"}])
    assert r.status_code == 403, r.text
    assert reader.delete(f"/v2/images/{img['id']}").status_code == 403
    assert alice.show(img["id"])["name"] == f"{run_id}-rd"


def test_member_cannot_publicize_but_admin_can(server, cleanup, run_id, alice, admin, bob):
    r = alice.post("/v2/images", json={"name": f"{run_id}-pub", "visibility": "public"})
    assert r.status_code == 403, r.text
    img = admin.create(name=f"{run_id}-pub", visibility="public")
    cleanup.append(img["id"])
    assert img["id"] in _ids(bob)
    assert bob.get(f"/v2/images/{img['id']}").status_code == 200


def test_community_images_listed_only_on_request(server, cleanup, run_id, alice, bob):
    img = alice.create(name=f"{run_id}-comm", visibility="community")
    cleanup.append(img["id"])
    assert img["visibility"] == "community"
    # anyone can GET it by id...
    assert bob.get(f"/v2/images/{img['id']}").status_code == 200
    # ...but it is listed for other projects only with visibility=community
    assert img["id"] not in _ids(bob)
    assert img["id"] in _ids(bob, visibility="community")
    # the owner sees it in the default list
    assert img["id"] in _ids(alice)
    # others cannot change it
    r = bob.patch(f"/v2/images/{img['id']}",
                  [{"op": "replace", "path": "/name", "value": "x"}])
    assert r.status_code == 403, r.text


def test_list_visibility_filters(server, cleanup, run_id, alice):
    ids = {}
    for vis in ("private", "shared", "community"):
        img = alice.create(name=f"{run_id}-vis-{vis}", visibility=vis, visrun=run_id)
        cleanup.append(img["id"])
        ids[vis] = img["id"]
    for vis, iid in ids.items():
        assert _ids(alice, visibility=vis, visrun=run_id) == {iid}
    assert _ids(alice, visibility="all", visrun=run_id) == set(ids.values())
    assert _ids(alice, visrun=run_id) == set(ids.values())
