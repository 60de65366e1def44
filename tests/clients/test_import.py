"""Interoperable image import (glance-direct; web-download has its own file) and tasks with the real clients and plain HTTP.

Run against a cluster (tests/clients-on-cluster.sh) each request goes to the next node, so the
stage lands on one node and the import on another.
"""
import hashlib
import socket
import time
from urllib.parse import urlsplit

import pytest

from conftest import (ADMIN, ALICE, ALICE_USER, BOB, KEYSTONE, PROJ_A, Server, parse_list,
                      parse_show, random_image_bytes)


def _wait_active(api, image_id, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        img = api.show(image_id)
        if img["status"] == "active":
            return img
        assert img["status"] in ("queued", "uploading", "importing"), img
        time.sleep(0.2)
    raise AssertionError(f"image {image_id} not active: {api.show(image_id)}")


def _check(img, data):
    assert img["size"] == len(data)
    assert img["checksum"] == hashlib.md5(data).hexdigest()
    assert img["os_hash_value"] == hashlib.sha512(data).hexdigest()
    assert "os_glance_import_task" not in img
    assert img["os_glance_importing_to_stores"] == ""
    assert img["os_glance_failed_import"] == ""


def test_info_and_create_headers(alice, cleanup):
    info = alice.get("/v2/info/import").json()
    assert info == {"import-methods": {"description": "Import methods available.",
                                       "type": "array",
                                       "value": ["glance-direct", "web-download"]}}
    r = alice.post("/v2/images", json={"name": "hdr"})
    cleanup.append(r.json()["id"])
    assert r.headers["OpenStack-image-import-methods"] == "glance-direct,web-download"
    assert r.headers["OpenStack-image-store-ids"] == "tessera"


def test_glance_create_via_import(server, files, tmp_path, cleanup, run_id, alice, admin):
    path, data = files["big"]
    out = server.glance("image-create-via-import", "--disk-format", "raw",
                        "--container-format", "bare", "--name", f"{run_id}-via-import",
                        "--file", str(path))
    img = parse_show(out.stdout)
    cleanup.append(img["id"])
    _check(_wait_active(alice, img["id"]), data)
    dl = tmp_path / "out"
    server.glance("image-download", "--file", str(dl), img["id"])  # verifies sha512
    assert dl.read_bytes() == data

    # The task, as the image's tasks (any reader of the image) and as admin's task list.
    tasks = alice.get(f"/v2/images/{img['id']}/tasks").json()["tasks"]
    assert len(tasks) == 1
    t = tasks[0]
    assert (t["type"], t["status"], t["owner"], t["user_id"]) == (
        "api_image_import", "success", PROJ_A, ALICE_USER)
    assert t["input"] == {"image_id": img["id"], "import_req": {"method": {"name": "glance-direct"}},
                          "backend": ["tessera"]}
    assert t["result"] == {"image_id": img["id"]}
    assert t["request_id"].startswith("req-") and t["deleted"] is False
    listed = parse_list(server.glance("task-list", token=ADMIN).stdout)
    assert t["id"] in [row["ID"] for row in listed]
    shown = admin.get(f"/v2/tasks/{t['id']}").json()
    assert shown["status"] == "success" and shown["self"] == f"/v2/tasks/{t['id']}"
    assert shown["message"] == "Copied 5 MiB"
    assert shown["expires_at"].endswith("Z")
    out = server.glance("image-tasks", img["id"])
    assert "Copied 5 MiB" in out.stdout and "success" in out.stdout


def test_glance_stage_then_import(server, files, cleanup, run_id, alice):
    path, data = files["small"]
    img = parse_show(server.glance("image-create", "--disk-format", "raw",
                                   "--container-format", "bare",
                                   "--name", f"{run_id}-staged").stdout)
    cleanup.append(img["id"])
    server.glance("image-stage", "--file", str(path), img["id"])
    staged = alice.show(img["id"])
    assert (staged["status"], staged["size"], staged["checksum"]) == ("uploading", len(data), None)
    server.glance("image-import", "--import-method", "glance-direct", img["id"])
    _check(_wait_active(alice, img["id"]), data)


def test_openstack_image_create_import(server, files, cleanup, run_id, alice):
    path, data = files["tiny"]
    out = server.openstack("image", "create", "--import", "--file", str(path),
                           "--disk-format", "raw", "--container-format", "bare",
                           "-f", "json", f"{run_id}-osc-import")
    import json
    img = json.loads(out.stdout)
    cleanup.append(img["id"])
    _check(_wait_active(alice, img["id"]), data)


def test_sdk_create_image_use_import(server, files, cleanup, run_id, alice):
    path, data = files["small"]
    conn = server.sdk(ALICE)
    img = conn.create_image(f"{run_id}-sdk-import", filename=str(path), disk_format="raw",
                            container_format="bare", use_import=True, wait=True)
    cleanup.append(img.id)
    _check(_wait_active(alice, img.id), data)


def test_bad_imports_change_nothing(files, cleanup, alice, bob, admin):
    img = alice.create(name="bad-import")
    cleanup.append(img["id"])
    iid = img["id"]
    url = f"/v2/images/{iid}/import"

    def refused(body, status, text, api=alice):
        r = api.post(url, json=body)
        assert r.status_code == status, r.text
        assert text in r.text, r.text

    refused({}, 400, "Import request requires a 'method' field.")
    refused({"method": {}}, 400, "Import request requires a 'name' field.")
    refused({"method": {"name": "nope"}}, 400, "Unknown import method name 'nope'.")
    refused({"method": {"name": "glance-direct"}}, 409,
            "Image needs to be staged before 'glance-direct' method can be used")
    # Staging needs image data's media type; a non-owner cannot see or stage the image.
    r = alice.put(f"/v2/images/{iid}/stage", data=b"x", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415
    r = bob.put(f"/v2/images/{iid}/stage", data=b"x",
                headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 404
    assert alice.show(iid)["status"] == "queued"
    # Staged but without formats: Glance's 409 order.
    r = alice.put(f"/v2/images/{iid}/stage", data=b"abc",
                  headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 204
    refused({"method": {"name": "glance-direct"}}, 409,
            "'container_format' needs to be set before import")
    refused({"method": {"name": "glance-direct"}, "stores": ["elsewhere"]}, 409,
            "Store for identifier elsewhere not found")
    r = alice.put(f"/v2/images/{iid}/stage", data=b"abc",
                  headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 409
    assert "from uploading to uploading" in r.text
    assert alice.show(iid)["status"] == "uploading"


def test_a_stage_cut_off_half_way_leaves_a_queued_retryable_image(alice, cleanup):
    img = alice.create(name="cut-stage", disk_format="raw", container_format="bare")
    cleanup.append(img["id"])
    url = urlsplit(alice.url)
    head = (f"PUT /v2/images/{img['id']}/stage HTTP/1.1\r\nHost: {url.netloc}\r\n"
            f"X-Auth-Token: {alice.token}\r\nContent-Type: application/octet-stream\r\n"
            f"Content-Length: {4 * 1024 * 1024}\r\n\r\n").encode()
    with socket.create_connection((url.hostname, url.port)) as s:
        s.sendall(head + b"\0" * (1024 * 1024))
    # The image is queued before the stage reaches the node too: first see the node take it
    # (uploading, or already reverted with a newer updated_at; a revert within the creation's
    # second shows neither, so this wait is bounded).
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        now = alice.show(img["id"])
        if now["status"] == "uploading" or now["updated_at"] != img["updated_at"]:
            break
        time.sleep(0.1)
    # The node notices the cut (end of stream short of the length) and reverts the stage.
    deadline = time.monotonic() + 30
    while alice.show(img["id"])["status"] != "queued":
        assert time.monotonic() < deadline, alice.show(img["id"])
        time.sleep(0.2)
    shown = alice.show(img["id"])
    assert shown["size"] is None and "os_glance_import_task" not in shown
    # Nothing staged is left to import, and a whole stage then imports.
    r = alice.post(f"/v2/images/{img['id']}/import", json={"method": {"name": "glance-direct"}})
    assert r.status_code == 409, r.text
    data = random_image_bytes(1024 * 1024 + 1)
    r = alice.put(f"/v2/images/{img['id']}/stage", data=data,
                  headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 204, r.text
    r = alice.post(f"/v2/images/{img['id']}/import", json={"method": {"name": "glance-direct"}})
    assert r.status_code == 202, r.text
    _check(_wait_active(alice, img["id"]), data)


def test_tasks_api_is_admin_only_and_never_deletes(alice, admin):
    assert alice.get("/v2/tasks").status_code == 403
    r = admin.get("/v2/tasks?limit=1&sort_key=status&sort_dir=desc")
    assert r.status_code == 200
    body = r.json()
    assert body["schema"] == "/v2/schemas/tasks"
    assert body["first"] == "/v2/tasks?limit=1&sort_key=status&sort_dir=desc"
    for t in body["tasks"]:
        assert "input" not in t and "result" not in t
    assert admin.get("/v2/tasks?status=nope").status_code == 400
    assert admin.get("/v2/tasks?sort_key=nope").status_code == 400
    r = admin.get("/v2/tasks/11111111-1111-1111-1111-111111111111")
    assert r.status_code == 404
    r = admin.delete("/v2/tasks/11111111-1111-1111-1111-111111111111")
    assert r.status_code == 405 and r.headers["Allow"] == "GET"
    assert "auto deleted" in r.text
    for name in ("task", "tasks"):
        assert admin.get(f"/v2/schemas/{name}").json()["name"] == name
    assert alice.get("/v2/images/11111111-1111-1111-1111-111111111111/tasks").status_code == 404


@pytest.fixture(scope="module")
def reaping_node(server):
    """A node whose reaper deletes every unreferenced chunk two seconds old, every second
    (the shortest grace allowed: more than the shortest upload timeout)."""
    if server.external or KEYSTONE:
        pytest.skip("needs a self-started noauth node with its own settings")
    node = Server(None, ("--reaper-interval", "1s", "--reaper-grace", "2s",
                         "--upload-timeout", "1s"))
    node.start()
    yield node
    node.stop()


def test_staged_data_outlives_reaper_passes(reaping_node):
    api = reaping_node.session(ALICE)
    admin = reaping_node.session(ADMIN)
    data = random_image_bytes(2 * 1024 * 1024 + 3)
    img = api.create(name="staged-while-reaping", disk_format="raw", container_format="bare")
    # Paused while the stage is in flight: with so short a grace its chunks could go before
    # the stage is recorded.
    assert admin.post("/tessera/v1/workers/reaper/pause").status_code in (200, 204)
    r = api.put(f"/v2/images/{img['id']}/stage", data=data,
                headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 204
    assert admin.post("/tessera/v1/workers/reaper/resume").status_code in (200, 204)
    passes = admin.get("/tessera/v1/workers/reaper").json()["passes"]
    deadline = time.monotonic() + 30
    # Passes past the grace: unreferenced chunks of the stage would be gone by then.
    while admin.get("/tessera/v1/workers/reaper").json()["passes"] < passes + 4:
        assert time.monotonic() < deadline, "the reaper did not run"
        time.sleep(0.2)
    r = api.post(f"/v2/images/{img['id']}/import", json={"method": {"name": "glance-direct"}})
    assert r.status_code == 202
    _wait_active(api, img["id"])
    got = api.get(f"/v2/images/{img['id']}/file")
    assert got.status_code == 200 and got.content == data


@pytest.fixture(scope="module")
def inject_node(server, tmp_path_factory):
    """A node with Glance's inject_image_metadata import plugin on."""
    if server.external or KEYSTONE:
        pytest.skip("needs a self-started noauth node with its own configuration")
    cfg = tmp_path_factory.mktemp("inject") / "node.toml"
    cfg.write_text('[image_import_opts]\nimage_import_plugins = ["inject_image_metadata"]\n'
                   '[inject_metadata_properties]\nignore_user_roles = ["admin"]\n'
                   'inject = { "property1" = "value1", "hw_firmware_type" = "uefi" }\n')
    node = Server(None, ("--config", str(cfg)))
    node.start()
    yield node
    node.stop()


@pytest.mark.parametrize("token,injected", [(ALICE, True), (ADMIN, False)])
def test_inject_image_metadata_plugin(inject_node, token, injected):
    api = inject_node.session(token)
    img = api.create(name="injected", disk_format="raw", container_format="bare")
    r = api.put(f"/v2/images/{img['id']}/stage", data=b"x" * 1000,
                headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 204
    r = api.post(f"/v2/images/{img['id']}/import", json={"method": {"name": "glance-direct"}})
    assert r.status_code == 202
    shown = _wait_active(api, img["id"])
    got = {k: shown.get(k) for k in ("property1", "hw_firmware_type")}
    expected = {"property1": "value1", "hw_firmware_type": "uefi"}
    assert got == (expected if injected else {"property1": None, "hw_firmware_type": None})
