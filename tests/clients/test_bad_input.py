"""Bad and odd input over plain HTTP. Expected codes are the real Glance 33's (see
GLANCE_NOTES.md). After every rejected request the store must be unchanged."""
import hashlib
import json
import socket
import time
import uuid

import pytest
import requests

from conftest import ALICE, PROJ_A, PROJ_B, READER, random_image_bytes

JSON_PATCH = "application/openstack-images-v2.1-json-patch"


def _snapshot(api, image_id=None):
    """The observable store state: the image record and the list the caller sees."""
    img = api.show(image_id) if image_id else None
    listed = sorted((i["id"], i["updated_at"], i["status"]) for i in api.list_all())
    return img, listed


def _assert_request_id(r):
    rid = r.headers.get("x-openstack-request-id")
    assert rid, f"no x-openstack-request-id on {r.request.method} {r.request.path_url}"


@pytest.fixture
def image(alice, cleanup, run_id):
    img = alice.create(name=f"{run_id}-bad", disk_format="raw", container_format="bare",
                       min_ram=1, keep="me")
    cleanup.append(img["id"])
    return img


@pytest.fixture
def active_image(alice, cleanup, run_id):
    data = random_image_bytes(64 * 1024 + 17)
    img = alice.create(name=f"{run_id}-bad-active", disk_format="raw", container_format="bare")
    cleanup.append(img["id"])
    alice.upload(img["id"], data)
    return alice.show(img["id"]), data


# ---------------------------------------------------------------------------- POST /v2/images


def test_create_returns_201_location_and_request_id(alice, cleanup, run_id):
    r = alice.post("/v2/images", json={"name": f"{run_id}-loc", "disk_format": "raw",
                                       "container_format": "bare"})
    assert r.status_code == 201, r.text
    img = r.json()
    cleanup.append(img["id"])
    _assert_request_id(r)
    assert r.headers["Location"].endswith(f"/v2/images/{img['id']}")
    assert r.headers["Content-Type"].startswith("application/json")
    assert img["status"] == "queued" and img["owner"] == PROJ_A
    assert img["self"] == f"/v2/images/{img['id']}"
    assert img["file"] == f"/v2/images/{img['id']}/file"
    assert img["schema"] == "/v2/schemas/image"
    for k in ("size", "checksum", "os_hash_algo", "os_hash_value", "virtual_size"):
        assert img[k] is None
    assert img["protected"] is False and img["os_hidden"] is False
    assert img["min_ram"] == 0 and img["min_disk"] == 0 and img["tags"] == []
    assert img["visibility"] == "shared"


@pytest.mark.parametrize("body,code", [
    (b'{"name": "x",', 400),                                  # malformed JSON
    (json.dumps({"name": "x", "min_ram": "x"}), 400),         # schema: type
    (json.dumps({"min_ram": -1}), 400),                       # schema: minimum
    (json.dumps({"disk_format": "floppy"}), 400),             # schema: enum
    (json.dumps({"container_format": "crate"}), 400),
    (json.dumps({"name": "n" * 256}), 400),                   # schema: maxLength
    (json.dumps({"id": "not-a-uuid"}), 400),
    (json.dumps({"visibility": "everyone"}), 400),
    (json.dumps({"tags": "a"}), 400),
    (json.dumps({"tags": ["t" * 256]}), 400),
    (json.dumps({"foo": 5}), 400),                            # extra props must be strings
    (json.dumps({"status": "active"}), 403),                  # read-only
    (json.dumps({"checksum": "0" * 32}), 403),
    (json.dumps({"size": 5}), 403),
    (json.dumps({"os_glance_foo": "x"}), 403),                # reserved namespace
    (json.dumps({"visibility": "public"}), 403),              # publicize: admin only
    (json.dumps({f"p{i}": "v" for i in range(129)}), 413),    # image_property_quota = 128
], ids=["malformed", "min_ram-type", "min_ram-negative", "disk_format-enum",
        "container_format-enum", "name-too-long", "id-not-uuid", "visibility-enum",
        "tags-not-list", "tag-too-long", "extra-prop-not-string", "ro-status",
        "ro-checksum", "ro-size", "reserved-os_glance", "public-by-member", "129-props"])
def test_create_rejected(alice, body, code):
    before = _snapshot(alice)
    r = alice.post("/v2/images", data=body, headers={"Content-Type": "application/json"})
    assert r.status_code == code, (r.status_code, r.text[:500])
    _assert_request_id(r)
    assert "Location" not in r.headers
    assert _snapshot(alice) == before


def test_create_by_reader_forbidden(server, alice):
    before = _snapshot(alice)
    r = server.session(READER).post("/v2/images", json={"name": "by-reader"})
    assert r.status_code == 403
    assert _snapshot(alice) == before


def test_create_duplicate_id_conflict(alice, image):
    before = _snapshot(alice, image["id"])
    r = alice.post("/v2/images", json={"id": image["id"], "name": "dup"})
    assert r.status_code == 409, r.text
    assert _snapshot(alice, image["id"]) == before


def test_create_with_client_chosen_id(alice, cleanup):
    iid = str(uuid.uuid4())
    r = alice.post("/v2/images", json={"id": iid, "name": "chosen"})
    assert r.status_code == 201, r.text
    cleanup.append(iid)
    assert r.json()["id"] == iid


def test_create_ignores_os_hash_value(alice, cleanup):
    """Glance accepts `os_hash_value` in POST (it is not in the read-only list) but ignores it."""
    r = alice.post("/v2/images", json={"name": "hv", "os_hash_value": "ab" * 64})
    assert r.status_code == 201, r.text
    cleanup.append(r.json()["id"])
    assert r.json()["os_hash_value"] is None
    assert alice.show(r.json()["id"])["os_hash_value"] is None


def test_create_huge_json_body(alice, cleanup):
    """~200 KiB of properties (100 values of 2000 chars): Glance takes it (no body limit, no
    length limit on extra property values). A server with a body limit may say 413 instead,
    but must then leave the store unchanged."""
    before = _snapshot(alice)
    props = {f"q{i}": "y" * 2000 for i in range(100)}
    r = alice.post("/v2/images", json={"name": "huge", **props})
    assert r.status_code in (201, 413), (r.status_code, r.text[:300])
    if r.status_code == 201:
        cleanup.append(r.json()["id"])
        got = alice.show(r.json()["id"])
        assert all(got[k] == v for k, v in props.items())
    else:
        assert _snapshot(alice) == before


def test_huge_header(server, alice):
    """A 100 KiB header line: Glance's uWSGI router resets the connection (its buffer is 64
    KiB); a 431 (or 400) answer is what we want. Either way nothing changes and the server
    goes on serving."""
    before = _snapshot(alice)
    try:
        r = requests.post(server.url + "/v2/images", json={"name": "hdr"},
                          headers={"X-Auth-Token": ALICE, "X-Big": "h" * 100 * 1024},
                          timeout=30)
        assert r.status_code in (400, 413, 431), r.status_code
    except requests.ConnectionError:
        pass  # connection reset / closed without an answer
    assert _snapshot(alice) == before
    # a large but sane header (8 KiB) is fine
    r = requests.get(server.url + "/v2/images", headers={"X-Auth-Token": ALICE,
                                                         "X-Big": "h" * 8 * 1024}, timeout=30)
    assert r.status_code == 200


# ---------------------------------------------------------------------------- PATCH


@pytest.mark.parametrize("ctype", ["application/json", "application/json-patch+json",
                                   "text/plain"])
def test_patch_wrong_content_type(alice, image, ctype):
    before = _snapshot(alice, image["id"])
    r = alice.patch(f"/v2/images/{image['id']}",
                    [{"op": "replace", "path": "/name", "value": "new"}], content_type=ctype)
    assert r.status_code == 415, r.text
    accept = r.headers.get("Accept-Patch", "")
    assert "application/openstack-images-v2.1-json-patch" in accept
    assert "application/openstack-images-v2.0-json-patch" in accept
    assert _snapshot(alice, image["id"]) == before


@pytest.mark.parametrize("ops,code", [
    ([{"op": "replace", "path": "/status", "value": "active"}], 403),
    ([{"op": "add", "path": "/checksum", "value": "0" * 32}], 403),
    ([{"op": "add", "path": "/id", "value": str(uuid.uuid4())}], 403),
    ([{"op": "replace", "path": "/size", "value": 1}], 403),
    ([{"op": "replace", "path": "/created_at", "value": "2020-01-01T00:00:00Z"}], 403),
    ([{"op": "add", "path": "/os_glance_foo", "value": "x"}], 403),
    ([{"op": "replace", "path": "/owner", "value": "projX"}], 403),
    ([{"op": "remove", "path": "/name"}], 403),               # base property: cannot remove
    ([{"op": "add", "path": "/locations/-",
       "value": {"url": "http://127.0.0.1:1/x", "metadata": {}}}], 403),
    ([{"op": "remove", "path": "/nosuch"}], 409),
    ([{"op": "replace", "path": "/nosuch", "value": "v"}], 409),
    ([{"op": "move", "path": "/name", "from": "/keep"}], 400),
    ([{"op": "replace", "path": "/min_ram", "value": "x"}], 400),
    ([{"op": "replace", "path": "/disk_format", "value": "floppy"}], 400),
    ({"op": "add"}, 400),
    (b"[{", 400),
    # one bad op in a batch: the whole PATCH is rejected (nothing applied)
    ([{"op": "replace", "path": "/name", "value": "applied?"},
      {"op": "add", "path": "/os_glance_x", "value": "x"}], 403),
], ids=["ro-status", "ro-checksum", "ro-id", "ro-size", "ro-created_at", "reserved",
        "owner-by-member", "remove-base", "locations", "remove-missing", "replace-missing",
        "op-move", "min_ram-type", "disk_format-enum", "not-a-list", "malformed",
        "atomic-batch"])
def test_patch_rejected(alice, image, ops, code):
    before = _snapshot(alice, image["id"])
    r = alice.patch(f"/v2/images/{image['id']}", ops)
    assert r.status_code == code, (r.status_code, r.text[:500])
    _assert_request_id(r)
    assert _snapshot(alice, image["id"]) == before


def test_patch_ok_and_v20_media_type(alice, image):
    r = alice.patch(f"/v2/images/{image['id']}",
                    [{"op": "replace", "path": "/name", "value": "renamed"},
                     {"op": "add", "path": "/extra", "value": "1"},
                     {"op": "remove", "path": "/keep"}])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["name"] == "renamed" and body["extra"] == "1" and "keep" not in body
    # the v2.0 dialect: {"replace": "/name", "value": ...}
    r = alice.patch(f"/v2/images/{image['id']}", [{"replace": "/name", "value": "v20"}],
                    content_type="application/openstack-images-v2.0-json-patch")
    assert r.status_code == 200, r.text
    assert alice.show(image["id"])["name"] == "v20"


# ---------------------------------------------------------------------------- upload


def test_upload_to_active_image_conflict(alice, active_image):
    img, data = active_image
    before = _snapshot(alice, img["id"])
    r = alice.put(f"/v2/images/{img['id']}/file", data=b"other bytes",
                  headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 409, r.text
    assert _snapshot(alice, img["id"]) == before
    assert alice.get(f"/v2/images/{img['id']}/file").content == data


def test_upload_wrong_content_type(alice, image):
    before = _snapshot(alice, image["id"])
    r = alice.put(f"/v2/images/{image['id']}/file", data=b"abc",
                  headers={"Content-Type": "application/json"})
    assert r.status_code == 415, r.text
    assert _snapshot(alice, image["id"]) == before


@pytest.mark.parametrize("declared,chunked", [("10", False), ("99999", False), ("10", True),
                                              ("abc", False)],
                         ids=["too-small", "too-big", "chunked-too-small", "garbage"])
def test_upload_wrong_image_size_header(alice, image, declared, chunked):
    before = _snapshot(alice, image["id"])
    data = b"a" * 4096
    body = iter([data[:2048], data[2048:]]) if chunked else data
    r = alice.put(f"/v2/images/{image['id']}/file", data=body,
                  headers={"Content-Type": "application/octet-stream",
                           "x-openstack-image-size": declared})
    assert r.status_code == 400, (r.status_code, r.text[:300])
    after = alice.show(image["id"])
    assert after["status"] == "queued"
    assert after["size"] is None and after["checksum"] is None
    assert after["name"] == before[0]["name"] and after["keep"] == "me"
    # the image is still usable: a correct upload works
    good = random_image_bytes(8192)
    alice.upload(image["id"], good)
    assert alice.get(f"/v2/images/{image['id']}/file").content == good


def test_truncated_upload_leaves_image_queued(server, alice, image):
    host, port = server.url.split("//", 1)[1].rsplit(":", 1)
    declared = 4 * 1024 * 1024
    head = (f"PUT /v2/images/{image['id']}/file HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"X-Auth-Token: {ALICE}\r\nContent-Type: application/octet-stream\r\n"
            f"Content-Length: {declared}\r\n\r\n").encode()
    with socket.create_connection((host, int(port)), timeout=10) as so:
        so.sendall(head)
        so.sendall(b"x" * 100 * 1024)
        time.sleep(0.3)
    # the server notices the EOF; the image must never become active and must end queued
    deadline = time.monotonic() + 60
    while True:
        img = alice.show(image["id"])
        assert img["status"] in ("queued", "saving"), img["status"]
        if img["status"] == "queued" or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert img["status"] == "queued"
    assert img["size"] is None and img["checksum"] is None
    time.sleep(1)
    assert alice.show(image["id"])["status"] == "queued"
    r = alice.get(f"/v2/images/{image['id']}/file")
    assert r.status_code == 204 and r.content == b""
    # and a full upload afterwards succeeds
    data = random_image_bytes(200 * 1024)
    alice.upload(image["id"], data)
    assert alice.get(f"/v2/images/{image['id']}/file").content == data


# ---------------------------------------------------------------------------- download


def test_download_headers_and_content_md5(alice, active_image):
    img, data = active_image
    r = alice.get(f"/v2/images/{img['id']}/file")
    assert r.status_code == 200
    assert r.content == data
    assert r.headers["Content-Type"] == "application/octet-stream"
    assert r.headers["Content-MD5"] == hashlib.md5(data).hexdigest() == img["checksum"]
    assert int(r.headers["Content-Length"]) == len(data)
    _assert_request_id(r)


@pytest.mark.parametrize("rng,start,end", [
    ("bytes=0-99", 0, 99),
    ("bytes=1000-", 1000, None),
    ("bytes=-10", -10, None),
    ("bytes=5-5", 5, 5),
    ("bytes=60000-999999", 60000, None),    # end past EOF is clamped
], ids=["first-100", "open-ended", "suffix", "one-byte", "clamped"])
def test_range_download(alice, active_image, rng, start, end):
    img, data = active_image
    r = alice.get(f"/v2/images/{img['id']}/file", headers={"Range": rng})
    assert r.status_code == 206, (r.status_code, r.text[:300])
    n = len(data)
    s = n + start if start < 0 else start
    e = n - 1 if end is None else end
    assert r.content == data[s:e + 1]
    assert r.headers["Content-Range"] == f"bytes {s}-{e}/{n}"
    assert int(r.headers["Content-Length"]) == e - s + 1
    # Glance sends the whole image's MD5 even on a partial answer
    assert r.headers["Content-MD5"] == img["checksum"]


@pytest.mark.parametrize("rng", ["bytes=999999-1000000", "bytes=10-5", "chars=1-2"])
def test_range_unsatisfiable(alice, active_image, rng):
    img, _ = active_image
    r = alice.get(f"/v2/images/{img['id']}/file", headers={"Range": rng})
    assert r.status_code == 416, (r.status_code, r.text[:300])


def test_multi_range_rejected(alice, active_image):
    img, _ = active_image
    r = alice.get(f"/v2/images/{img['id']}/file", headers={"Range": "bytes=0-9,20-29"})
    assert r.status_code == 400


def test_download_of_queued_image_is_204(alice, image):
    r = alice.get(f"/v2/images/{image['id']}/file")
    assert r.status_code == 204 and r.content == b""


# ---------------------------------------------------------------------------- delete / 404


def test_delete_protected_forbidden(alice, cleanup, run_id):
    img = alice.create(name=f"{run_id}-prot", protected=True)
    cleanup.append(img["id"])
    before = _snapshot(alice, img["id"])
    r = alice.delete(f"/v2/images/{img['id']}")
    assert r.status_code == 403, r.text
    assert _snapshot(alice, img["id"]) == before
    r = alice.patch(f"/v2/images/{img['id']}",
                    [{"op": "replace", "path": "/protected", "value": False}])
    assert r.status_code == 200
    r = alice.delete(f"/v2/images/{img['id']}")
    assert r.status_code == 204
    assert alice.get(f"/v2/images/{img['id']}").status_code == 404


@pytest.mark.parametrize("method,suffix", [
    ("GET", ""), ("GET", "/file"), ("DELETE", ""), ("PUT", "/tags/x"),
    ("GET", "/members"), ("POST", "/actions/deactivate"),
])
def test_unknown_image_404(alice, method, suffix):
    r = alice.req(method, f"/v2/images/{uuid.uuid4()}{suffix}")
    assert r.status_code == 404, (r.status_code, r.text[:300])
    _assert_request_id(r)


def test_non_uuid_image_id_404(alice):
    assert alice.get("/v2/images/not-a-uuid").status_code == 404


def test_list_bad_parameters(alice):
    for q in ("limit=x", "limit=-1", "sort_key=bogus", "sort_dir=up", "visibility=bogus",
              f"marker={uuid.uuid4()}"):
        r = alice.get("/v2/images?" + q)
        assert r.status_code == 400, (q, r.status_code, r.text[:300])


def test_method_not_allowed(alice, active_image):
    r = alice.delete("/v2/images")
    assert r.status_code == 405
    assert set(x.strip() for x in r.headers["Allow"].split(",")) == {"GET", "POST"}


def test_deactivate_queued_image_forbidden(alice, image):
    r = alice.post(f"/v2/images/{image['id']}/actions/deactivate")
    assert r.status_code == 403
    assert alice.show(image["id"])["status"] == "queued"


def test_tags_and_members_errors(alice, bob, image):
    iid = image["id"]
    assert alice.delete(f"/v2/images/{iid}/tags/nope").status_code == 404
    assert alice.put(f"/v2/images/{iid}/tags/{'t' * 256}").status_code == 400
    assert alice.put(f"/v2/images/{iid}/tags/ok").status_code == 204
    assert alice.put(f"/v2/images/{iid}/tags/ok").status_code == 204  # idempotent
    assert alice.show(iid)["tags"] == ["ok"]
    r = alice.post(f"/v2/images/{iid}/members", json={"member": PROJ_B})
    assert r.status_code == 200 and r.json()["status"] == "pending"
    assert alice.post(f"/v2/images/{iid}/members",
                      json={"member": PROJ_B}).status_code == 409
    # only the member may change its status
    assert alice.put(f"/v2/images/{iid}/members/{PROJ_B}",
                     json={"status": "accepted"}).status_code == 403
    assert bob.put(f"/v2/images/{iid}/members/{PROJ_B}",
                   json={"status": "bogus"}).status_code == 400
    r = bob.put(f"/v2/images/{iid}/members/{PROJ_B}", json={"status": "accepted"})
    assert r.status_code == 200 and r.json()["status"] == "accepted"


def test_every_v2_response_has_request_id(alice, image):
    for r in (alice.get("/v2/images"), alice.get(f"/v2/images/{image['id']}"),
              alice.get("/v2/schemas/image"), alice.get("/v2/nothing"),
              alice.get(f"/v2/images/{uuid.uuid4()}")):
        _assert_request_id(r)
        assert r.headers["x-openstack-request-id"].startswith("req-")


def test_a_range_ending_at_the_largest_integer_is_clamped_to_the_image(alice, cleanup, run_id):
    data = random_image_bytes(100_000)
    r = alice.post("/v2/images", json={"name": f"{run_id}-bigrange", "disk_format": "raw",
                                        "container_format": "bare"})
    cleanup.append(r.json()["id"])
    iid = r.json()["id"]
    assert alice.put(f"/v2/images/{iid}/file", data=data,
                     headers={"Content-Type": "application/octet-stream"}).status_code == 204
    r = alice.get(f"/v2/images/{iid}/file", headers={"Range": "bytes=0-18446744073709551615"})
    assert r.status_code == 206, r.text
    assert r.headers["Content-Range"] == "bytes 0-99999/100000"
    assert r.content == data


def test_a_time_filter_cut_inside_a_character_is_a_400_not_a_dropped_connection(alice):
    r = alice.get("/v2/images", params={"created_at": "gte:2023-11-1\u00e9"})
    assert r.status_code == 400, r.text
    assert "Unable to parse datetime" in r.text
