"""Glance's per-image quotas (`image_property_quota`, `image_tag_quota`, `image_member_quota`):
413 with Glance's messages, through HTTP and the real clients.

The default (128 tags) is checked on the session's server. The other checks start their own
node with small quotas, or use `TESSERA_QUOTA_URL`: a server whose three quotas are 3 (the
real Glance with `image_tag_quota = 3` etc. passes them too); against another external server
(`TESSERA_URL` alone) they are skipped.
"""
import os
import shutil
import signal

import pytest

from conftest import ALICE, Server

QUOTA = 3
TAGS_MSG = ("The limit has been exceeded on the number of allowed image tags. "
            "Attempted: {attempted}, Maximum: {maximum}")
PROPS_MSG = ("The limit has been exceeded on the number of allowed image properties. "
             "Attempted: {attempted}, Maximum: {maximum}")
MEMBERS_MSG = ("The limit has been exceeded on the number of allowed image members for this "
               "image. Attempted: {attempted}, Maximum: {maximum}")


@pytest.fixture(scope="module")
def small(server):
    """A node of its own whose three quotas are QUOTA."""
    external = os.environ.get("TESSERA_QUOTA_URL")
    if external:
        srv = Server(external)
        srv.start()
        yield srv
        return
    if server.external:
        pytest.skip("needs a self-started node with small quotas (TESSERA_URL is set)")
    srv = Server(None, args=("--image-property-quota", str(QUOTA),
                             "--image-tag-quota", str(QUOTA),
                             "--image-member-quota", str(QUOTA)))
    srv.start()
    try:
        yield srv
    finally:
        srv.stop(signal.SIGTERM)
        shutil.rmtree(srv.tmp, ignore_errors=True)


def _image(api, **body):
    return api.create(disk_format="raw", container_format="bare", **body)


def test_default_tag_quota_is_128(alice, cleanup, run_id):
    img = _image(alice, name=f"{run_id}-q-default")
    cleanup.append(img["id"])
    tags = [f"t{i}" for i in range(128)]
    r = alice.patch(f"/v2/images/{img['id']}",
                    [{"op": "replace", "path": "/tags", "value": tags}])
    assert r.status_code == 200, (r.status_code, r.text[:300])
    r = alice.put(f"/v2/images/{img['id']}/tags/one-more")
    assert r.status_code == 413, (r.status_code, r.text[:300])
    assert TAGS_MSG.format(attempted=129, maximum=128) in r.text
    assert "<title>413 Request Entity Too Large</title>" in r.text  # webob's name
    assert len(alice.show(img["id"])["tags"]) == 128


def test_create_over_the_quota_is_413(small, run_id):
    api = small.session(ALICE)
    r = api.post("/v2/images", json={"name": f"{run_id}-q", "tags": ["a", "b", "c", "d"]})
    assert r.status_code == 413, (r.status_code, r.text[:300])
    assert TAGS_MSG.format(attempted=4, maximum=QUOTA) in r.text
    props = {f"p{i}": "v" for i in range(QUOTA + 1)}
    r = api.post("/v2/images", json={"name": f"{run_id}-q", **props})
    assert r.status_code == 413, (r.status_code, r.text[:300])
    assert PROPS_MSG.format(attempted=QUOTA + 1, maximum=QUOTA) in r.text
    # openstacksdk asks for JSON and reads the message from it.
    r = api.post("/v2/images", json={"name": f"{run_id}-q", **props},
                 headers={"Accept": "application/json"})
    assert r.status_code == 413
    # (Glance leaves its page's trailing markup in the message.)
    assert r.json()["message"].startswith(PROPS_MSG.format(attempted=QUOTA + 1, maximum=QUOTA))
    names = [i["name"] for i in api.list_all()]
    assert f"{run_id}-q" not in names


def test_patch_tag_and_member_stop_at_the_quota(small, run_id):
    api = small.session(ALICE)
    img = _image(api, name=f"{run_id}-q-ops", visibility="shared", p0="v", p1="v", p2="v")
    iid = img["id"]
    r = api.patch(f"/v2/images/{iid}", [{"op": "add", "path": "/p3", "value": "v"}])
    assert r.status_code == 413, (r.status_code, r.text[:300])
    assert PROPS_MSG.format(attempted=4, maximum=QUOTA) in r.text
    # Replacing one at the limit adds none: allowed.
    r = api.patch(f"/v2/images/{iid}", [{"op": "replace", "path": "/p0", "value": "w"}])
    assert r.status_code == 200, (r.status_code, r.text[:300])

    for tag in ("a", "b", "c"):
        assert api.put(f"/v2/images/{iid}/tags/{tag}").status_code == 204
    r = api.put(f"/v2/images/{iid}/tags/d")
    assert r.status_code == 413, (r.status_code, r.text[:300])
    assert (f"Image tag limit exceeded for image {iid}: "
            + TAGS_MSG.format(attempted=4, maximum=QUOTA) + ":") in r.text

    for project in ("p1", "p2", "p3"):
        r = api.post(f"/v2/images/{iid}/members", json={"member": project})
        assert r.status_code == 200, (r.status_code, r.text[:300])
    r = api.post(f"/v2/images/{iid}/members", json={"member": "p4"})
    assert r.status_code == 413, (r.status_code, r.text[:300])
    assert (f"Image member limit exceeded for image {iid}: "
            + MEMBERS_MSG.format(attempted=4, maximum=QUOTA) + ":") in r.text

    shown = api.show(iid)
    assert sorted(shown["tags"]) == ["a", "b", "c"]
    assert shown["p0"] == "w" and "p3" not in shown


def test_glanceclient_shows_the_quota_message(small, run_id):
    api = small.session(ALICE)
    img = _image(api, name=f"{run_id}-q-cli", tags=["a", "b", "c"])
    p = small.glance("image-tag-update", img["id"], "d", check=False)
    assert p.returncode != 0
    assert "413" in p.stderr + p.stdout
    assert "allowed image tags" in p.stderr + p.stdout
