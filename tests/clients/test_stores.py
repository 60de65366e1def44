"""Several stores (Glance's multi-store): a node with two cluster stores (their own replica
counts), two file stores and a read-only http store, driven by the glance CLI, openstacksdk and plain requests: the store
info documents, upload to each store, copy-image between them, per-store delete, reads
falling back to another copy when a store fails, imports to several stores, and the bad
inputs (unknown store, read-only store, last copy, wrong state, not admin).
"""
import hashlib
import shutil
import time

import pytest

from conftest import ADMIN, ALICE, KEYSTONE, Server, parse_show, random_image_bytes

DATA = random_image_bytes(2 * 1024 * 1024 + 99, seed=14)
MD5 = hashlib.md5(DATA).hexdigest()


@pytest.fixture(scope="module")
def node(tmp_path_factory, server):
    """A noauth node with stores fast (cluster, default), economy (cluster, 2 copies a
    chunk), files and archive (file; files weighs most, so reads prefer it) and web (http,
    read-only)."""
    if server.external or KEYSTONE:
        pytest.skip("needs a self-started noauth node with its own configuration")
    tmp = tmp_path_factory.mktemp("stores")
    cfg = tmp / "node.toml"
    cfg.write_text(f"""
[stores]
default = "fast"

[[stores.store]]
id = "fast"
driver = "cluster"
description = "replicated chunk store"
weight = 10

[[stores.store]]
id = "economy"
driver = "cluster"
replicas = 2
weight = 5

[[stores.store]]
id = "files"
driver = "file"
description = "a directory"
weight = 20
path = "{tmp / 'files'}"

[[stores.store]]
id = "archive"
driver = "file"
path = "{tmp / 'archive'}"

[[stores.store]]
id = "web"
driver = "http"
""")
    n = Server(None, ("--config", str(cfg)))
    n.dirs = {"files": tmp / "files", "archive": tmp / "archive"}
    n.start()
    yield n
    n.stop()


@pytest.fixture(scope="module")
def image_file(tmp_path_factory):
    p = tmp_path_factory.mktemp("stores-img") / "img.raw"
    p.write_bytes(DATA)
    return p


def _create(api, **kw):
    return api.create(name=kw.pop("name", "stores"), disk_format="raw",
                      container_format="bare", **kw)


def _upload(api, image_id, store=None, data=DATA):
    headers = {"Content-Type": "application/octet-stream"}
    if store:
        headers["X-Image-Meta-Store"] = store
    return api.put(f"/v2/images/{image_id}/file", data=data, headers=headers)


def _staged(api):
    """A new image with DATA staged (glance-direct's first step)."""
    iid = _create(api)["id"]
    r = api.put(f"/v2/images/{iid}/stage", data=DATA,
                headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 204, r.text
    return iid


def _settle(api, image_id, timeout=60):
    """The image once its last import task finished, and the task."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tasks = api.get(f"/v2/images/{image_id}/tasks").json()["tasks"]
        done = [t for t in tasks if t["status"] in ("success", "failure")]
        if tasks and len(done) == len(tasks):
            return api.show(image_id), sorted(tasks, key=lambda t: t["created_at"])[-1]
        time.sleep(0.2)
    raise AssertionError(f"import of {image_id} did not finish: {api.show(image_id)}")


def _download(api, image_id):
    r = api.get(f"/v2/images/{image_id}/file")
    assert r.status_code == 200, r.text
    assert hashlib.md5(r.content).hexdigest() == MD5
    return r.headers.get("x-image-meta-store")


def test_store_info_is_glances(node):
    alice, admin = node.session(ALICE), node.session(ADMIN)
    assert alice.get("/v2/info/stores").json() == {"stores": [
        {"id": "fast", "description": "replicated chunk store", "default": "true"},
        {"id": "economy"},
        {"id": "files", "description": "a directory"},
        {"id": "archive"},
        {"id": "web", "read-only": "true"},
    ]}
    r = alice.get("/v2/info/stores/detail")
    assert r.status_code == 403 and "stores_info_detail" in r.text
    detail = {s["id"]: s for s in admin.get("/v2/info/stores/detail").json()["stores"]}
    assert detail["files"]["type"] == "file" and detail["files"]["weight"] == 20
    assert detail["files"]["properties"]["data_dir"] == str(node.dirs["files"].resolve())
    assert detail["web"]["type"] == "http" and detail["web"]["read-only"] == "true"
    assert detail["fast"]["type"] == "cluster" and detail["fast"]["default"] == "true"
    assert detail["economy"]["type"] == "cluster" and detail["economy"]["weight"] == 5
    assert detail["economy"]["properties"]["replicas"] == 2
    assert detail["fast"]["properties"]["replicas"] == 3
    out = node.glance("stores-info", token=ADMIN).stdout
    for store in ("fast", "economy", "files", "archive", "web"):
        assert store in out
    r = alice.post("/v2/images", json={"name": "hdr"})
    assert r.headers["OpenStack-image-store-ids"] == "fast,economy,files,archive,web"
    assert "copy-image" in r.headers["OpenStack-image-import-methods"]
    assert "copy-image" in alice.get("/v2/info/import").json()["import-methods"]["value"]
    alice.delete(f"/v2/images/{r.json()['id']}")


@pytest.mark.parametrize("store", ["fast", "economy", "files", "archive"])
def test_glance_cli_uploads_to_each_store(node, image_file, store):
    out = node.glance("image-create", "--name", f"to-{store}", "--disk-format", "raw",
                      "--container-format", "bare", "--store", store, "--file",
                      str(image_file))
    img = parse_show(out.stdout)
    assert img["status"] == "active" and img["stores"] == store
    assert img["checksum"] == MD5
    api = node.session(ALICE)
    assert _download(api, img["id"]) == store
    if store in node.dirs:
        # Glance's layout: <path>/<image id>, so a Glance file store can be adopted.
        assert (node.dirs[store] / img["id"]).read_bytes() == DATA
    node.glance("image-delete", img["id"])
    if store in node.dirs:
        assert not (node.dirs[store] / img["id"]).exists()


def test_unknown_and_read_only_stores_are_refused(node):
    api = node.session(ALICE)
    img = _create(api)
    # A refused upload is answered before its body is read, and the connection closed: a
    # small body is all sent by then, so the client reads the answer.
    r = _upload(api, img["id"], "nope", data=DATA[:1024])
    assert r.status_code == 400 and "Unknown scheme 'nope' found in URI" in r.text
    r = _upload(api, img["id"], "web", data=DATA[:1024])
    assert r.status_code == 410 and "Adding images to store is disabled" in r.text
    assert api.show(img["id"])["status"] == "queued"
    assert not [p for p in node.dirs["files"].iterdir() if p.name.startswith(".")]
    assert _upload(api, img["id"]).status_code == 204
    assert api.show(img["id"])["stores"] == "fast"
    api.delete(f"/v2/images/{img['id']}")


def test_copy_image_then_per_store_delete(node):
    alice, admin = node.session(ALICE), node.session(ADMIN)
    img = _create(alice)
    iid = img["id"]
    assert _upload(alice, iid).status_code == 204
    body = {"method": {"name": "copy-image"}, "stores": ["files"]}
    r = alice.post(f"/v2/images/{iid}/import", json=body)
    assert r.status_code == 403, r.text
    r = admin.post(f"/v2/images/{iid}/import",
                   json={"method": {"name": "copy-image"}, "stores": ["fast"]})
    assert r.status_code == 400 and "Image is already present at store 'fast'" in r.text
    r = admin.post(f"/v2/images/{iid}/import",
                   json={"method": {"name": "copy-image"}, "stores": ["nope"]})
    assert r.status_code == 409, r.text
    node.glance("image-import", iid, "--import-method", "copy-image", "--stores", "files",
                token=ADMIN)
    shown, task = _settle(admin, iid)
    assert task["status"] == "success", task
    assert shown["stores"] == "files,fast"
    assert shown["os_glance_importing_to_stores"] == "" and shown["os_glance_failed_import"] == ""
    assert (node.dirs["files"] / iid).read_bytes() == DATA
    # files weighs most: reads come from it.
    assert _download(alice, iid) == "files"
    # Per-store delete (2.10): admin only, not the last copy, Glance's codes.
    r = alice.delete(f"/v2/stores/files/{iid}")
    assert r.status_code == 403, r.text
    assert admin.delete(f"/v2/stores/nope/{iid}").status_code == 409
    r = admin.delete(f"/v2/stores/archive/{iid}")
    assert r.status_code == 404 and f"Image {iid} is not stored in store archive." in r.text
    node.glance("stores-delete", "--store", "files", iid, token=ADMIN)
    assert alice.show(iid)["stores"] == "fast"
    assert not (node.dirs["files"] / iid).exists()
    r = admin.delete(f"/v2/stores/fast/{iid}")
    assert r.status_code == 403 and "only store containing it" in r.text
    queued = _create(alice)
    assert admin.delete(f"/v2/stores/fast/{queued['id']}").status_code == 409
    r = admin.post(f"/v2/images/{queued['id']}/import",
                   json={"method": {"name": "copy-image"}, "stores": ["files"]})
    assert r.status_code == 409, r.text
    for i in (iid, queued["id"]):
        alice.delete(f"/v2/images/{i}")


def test_copy_between_the_cluster_stores_then_delete_each(node):
    """Both cluster stores share the chunk store: a copy between them records the second
    store's copy (no bytes move), and either copy can be deleted while the other serves."""
    alice, admin = node.session(ALICE), node.session(ADMIN)
    iid = _create(alice)["id"]
    assert _upload(alice, iid, "economy").status_code == 204
    assert alice.show(iid)["stores"] == "economy"
    assert _download(alice, iid) == "economy"
    node.glance("image-import", iid, "--import-method", "copy-image", "--stores", "fast",
                token=ADMIN)
    shown, task = _settle(admin, iid)
    assert task["status"] == "success", task
    assert shown["stores"] == "fast,economy"
    assert shown["os_glance_failed_import"] == ""
    assert _download(alice, iid) == "fast"
    r = admin.post(f"/v2/images/{iid}/import",
                   json={"method": {"name": "copy-image"}, "stores": ["economy"]})
    assert r.status_code == 400 and "Image is already present at store 'economy'" in r.text
    node.glance("stores-delete", "--store", "fast", iid, token=ADMIN)
    assert alice.show(iid)["stores"] == "economy"
    assert _download(alice, iid) == "economy"
    r = admin.delete(f"/v2/stores/economy/{iid}")
    assert r.status_code == 403 and "only store containing it" in r.text
    # Copied to fast again, then economy's copy deleted: fast alone keeps the image.
    node.glance("image-import", iid, "--import-method", "copy-image", "--stores", "fast",
                token=ADMIN)
    shown, task = _settle(admin, iid)
    assert task["status"] == "success" and shown["stores"] == "fast,economy", (task, shown)
    assert admin.delete(f"/v2/stores/economy/{iid}").status_code == 204
    assert alice.show(iid)["stores"] == "fast"
    assert _download(alice, iid) == "fast"
    alice.delete(f"/v2/images/{iid}")


def test_copy_to_all_stores_with_the_sdk_and_fallback_reads(node):
    alice, admin = node.session(ALICE), node.session(ADMIN)
    img = _create(alice)
    iid = img["id"]
    assert _upload(alice, iid, "archive").status_code == 204
    conn = node.sdk(ADMIN)
    conn.image.import_image(conn.image.get_image(iid), method="copy-image", all_stores=True,
                            all_stores_must_succeed=True)
    shown, task = _settle(admin, iid)
    assert task["status"] == "success", task
    assert sorted(shown["stores"].split(",")) == ["archive", "economy", "fast", "files"]
    # Nothing left to copy: accepted, no task.
    r = admin.post(f"/v2/images/{iid}/import",
                   json={"method": {"name": "copy-image"}, "all_stores": True})
    assert r.status_code == 202
    assert len(admin.get(f"/v2/images/{iid}/tasks").json()["tasks"]) == 1
    assert _download(alice, iid) == "files"
    # The preferred store loses its file: reads come from the next copy by weight.
    (node.dirs["files"] / iid).unlink()
    assert _download(alice, iid) == "fast"
    # The file store's directory is gone altogether: still served.
    shutil.rmtree(node.dirs["files"])
    try:
        assert _download(alice, iid) == "fast"
    finally:
        node.dirs["files"].mkdir()
    alice.delete(f"/v2/images/{iid}")
    assert not (node.dirs["archive"] / iid).exists()


def test_import_to_several_stores_and_a_failing_one(node):
    alice = node.session(ALICE)
    iid = _staged(alice)
    node.glance("image-import", iid, "--import-method", "glance-direct", "--stores",
                "files,archive")
    shown, task = _settle(alice, iid)
    assert task["status"] == "success", task
    assert shown["status"] == "active" and shown["stores"] == "files,archive"
    assert shown["checksum"] == MD5
    assert _download(alice, iid) == "files"
    alice.delete(f"/v2/images/{iid}")

    # archive cannot be written (its directory replaced by a file): with
    # all_stores_must_succeed the import fails and nothing is left; without, it lands in
    # the other store and names the failed one.
    archive = node.dirs["archive"]
    shutil.rmtree(archive)
    archive.write_text("not a directory")
    try:
        for must, status, stores in ((True, "queued", None), (False, "active", "files")):
            iid = _staged(alice)
            r = alice.post(f"/v2/images/{iid}/import", json={
                "method": {"name": "glance-direct"}, "stores": ["files", "archive"],
                "all_stores_must_succeed": must})
            assert r.status_code == 202, r.text
            shown, task = _settle(alice, iid)
            assert shown["status"] == status, shown
            assert shown["os_glance_failed_import"] == "archive"
            assert shown.get("stores") == stores
            assert task["status"] == ("failure" if must else "success"), task
            if must:
                assert "store archive" in task["message"]
                assert not (node.dirs["files"] / iid).exists()
            alice.delete(f"/v2/images/{iid}")
    finally:
        archive.unlink()
        archive.mkdir()


def test_import_to_a_read_only_store_fails_cleanly(node):
    alice = node.session(ALICE)
    iid = _staged(alice)
    r = alice.post(f"/v2/images/{iid}/import",
                   json={"method": {"name": "glance-direct"}, "stores": ["web"]})
    assert r.status_code == 202, r.text
    shown, task = _settle(alice, iid)
    assert task["status"] == "failure" and "read-only" in task["message"], task
    assert shown["status"] == "queued" and shown["os_glance_failed_import"] == "web"
    alice.delete(f"/v2/images/{iid}")
