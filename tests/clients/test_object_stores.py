"""The swift and s3 stores end to end: a node with stores fast (cluster, default), economy
(cluster, 2 copies a chunk), files (file), swift and s3, both against a real Swift all-in-one (../shared/peer/swift/saio.sh: tempauth and the
s3api middleware), started here under /tmp/tessera-swift.lock. Uploads to each store (glance
CLI `--store`, openstacksdk's import with a store), downloads with the right bytes and checksum, copy-image from the
cluster to swift and s3, an image hopping through every ordered pair of the five stores
(copy-image, then per-store delete of the source), per-store delete, and reads falling back to the remaining stores
once the swift copy is deleted and then once Swift is stopped (when uploads to it are 503s).
"""
import fcntl
import hashlib
import subprocess
import time
from pathlib import Path

import pytest
import requests

from conftest import ADMIN, ALICE, KEYSTONE, Server, parse_show, random_image_bytes

DATA = random_image_bytes(1024 * 1024 + 7, seed=21)
MD5 = hashlib.md5(DATA).hexdigest()
SAIO = Path(__file__).resolve().parents[3] / "shared/peer/swift/saio.sh"
PROXY = "http://127.0.0.1:18080"


def _saio(action: str):
    subprocess.run(["bash", str(SAIO), action], check=True, timeout=300,
                   stdout=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def swift():
    """A running SAIO, holding the shared Swift lock; stopped at the end."""
    if not SAIO.exists():
        pytest.skip(f"no {SAIO}")
    with open("/tmp/tessera-swift.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            _saio("start")
            yield
        finally:
            _saio("stop")


@pytest.fixture(scope="module")
def node(tmp_path_factory, server, swift):
    """A noauth node with fast (cluster, default), economy (cluster), files, swift (weighs
    most) and s3 stores."""
    if server.external or KEYSTONE:
        pytest.skip("needs a self-started noauth node with its own configuration")
    tmp = tmp_path_factory.mktemp("objstores")
    cfg = tmp / "node.toml"
    cfg.write_text(f"""
[stores]
default = "fast"

[[stores.store]]
id = "fast"
driver = "cluster"
weight = 10

[[stores.store]]
id = "economy"
driver = "cluster"
replicas = 2
weight = 5

[[stores.store]]
id = "files"
driver = "file"
weight = 1
path = "{tmp / 'files'}"

[[stores.store]]
id = "swift"
driver = "swift"
description = "Swift, tempauth"
weight = 30
auth_address = "{PROXY}/auth/v1.0"
user = "test:tester"
key = "testing"
container = "glance"
create_container_on_put = true

[[stores.store]]
id = "s3"
driver = "s3"
weight = 20
endpoint = "{PROXY}"
access_key = "test:tester"
secret_key = "testing"
bucket = "tessera"
create_bucket_on_put = true
""")
    n = Server(None, ("--config", str(cfg)))
    n.start()
    yield n
    n.stop()


def _objects(container: str) -> list[str]:
    """The object names in a container of the SAIO's test account (an S3 bucket is one)."""
    r = requests.get(f"{PROXY}/auth/v1.0",
                     headers={"X-Auth-User": "test:tester", "X-Auth-Key": "testing"})
    r.raise_for_status()
    r = requests.get(f"{r.headers['X-Storage-Url']}/{container}",
                     headers={"X-Auth-Token": r.headers["X-Auth-Token"]})
    return r.text.split() if r.status_code == 200 else []


def _download(api, image_id):
    r = api.get(f"/v2/images/{image_id}/file")
    assert r.status_code == 200, r.text
    assert hashlib.md5(r.content).hexdigest() == MD5
    return r.headers.get("x-image-meta-store")


def _copy(node, image_id, stores, cli=True):
    admin = node.session(ADMIN)
    if cli:
        node.glance("image-import", image_id, "--import-method", "copy-image", "--stores",
                    stores, token=ADMIN)
    else:
        r = admin.post(f"/v2/images/{image_id}/import",
                       json={"method": {"name": "copy-image"}, "stores": stores.split(",")})
        assert r.status_code == 202, r.text
    for _ in range(300):
        tasks = admin.get(f"/v2/images/{image_id}/tasks").json()["tasks"]
        if tasks and all(t["status"] in ("success", "failure") for t in tasks):
            assert all(t["status"] == "success" for t in tasks), tasks
            return admin.show(image_id)
        time.sleep(0.2)
    raise AssertionError(f"copy of {image_id} did not finish")


def test_store_detail_names_the_drivers(node):
    detail = {s["id"]: s for s in node.session(ADMIN).get("/v2/info/stores/detail")
              .json()["stores"]}
    assert detail["swift"]["type"] == "swift" and detail["s3"]["type"] == "s3"
    assert detail["swift"]["properties"]["container"] == "glance"
    assert detail["s3"]["properties"]["bucket"] == "tessera"
    assert detail["fast"]["default"] == "true"
    assert detail["economy"]["type"] == "cluster"
    assert detail["economy"]["properties"]["replicas"] == 2


STORES = ["fast", "economy", "files", "swift", "s3"]


def test_upload_to_each_store_and_hop_through_every_pair(node):
    alice, admin = node.session(ALICE), node.session(ADMIN)
    for store in STORES:
        iid = alice.create(name=f"up-{store}", disk_format="raw", container_format="bare")["id"]
        r = alice.put(f"/v2/images/{iid}/file", data=DATA,
                      headers={"Content-Type": "application/octet-stream",
                               "X-Image-Meta-Store": store})
        assert r.status_code == 204, r.text
        assert alice.show(iid)["stores"] == store
        assert _download(alice, iid) == store
        alice.delete(f"/v2/images/{iid}")
    # One image hops through every ordered pair (s, t): it is only in s, copy-image puts it
    # in t too, then s's copy is deleted. Stepping by 1..4 round the five stores (5 is
    # prime) walks each ordered pair once, every walk starting and ending at fast.
    iid = alice.create(name="hops", disk_format="raw", container_format="bare")["id"]
    assert alice.put(f"/v2/images/{iid}/file", data=DATA,
                     headers={"Content-Type": "application/octet-stream"}).status_code == 204
    pairs = 0
    for step in range(1, 5):
        for k in range(5):
            src, dst = STORES[k * step % 5], STORES[(k + 1) * step % 5]
            shown = _copy(node, iid, dst, cli=False)
            assert sorted(shown["stores"].split(",")) == sorted([src, dst]), (src, dst, shown)
            r = admin.delete(f"/v2/stores/{src}/{iid}")
            assert r.status_code == 204, (src, dst, r.text)
            assert alice.show(iid)["stores"] == dst
            assert _download(alice, iid) == dst
            pairs += 1
    assert pairs == 20
    alice.delete(f"/v2/images/{iid}")
    assert iid not in _objects("glance") and iid not in _objects("tessera")


@pytest.mark.parametrize("store,container", [("swift", "glance"), ("s3", "tessera")])
def test_glance_cli_uploads_to_an_object_store(node, tmp_path, store, container):
    f = tmp_path / "img.raw"
    f.write_bytes(DATA)
    img = parse_show(node.glance("image-create", "--name", f"to-{store}", "--disk-format",
                                 "raw", "--container-format", "bare", "--store", store,
                                 "--file", str(f)).stdout)
    assert img["status"] == "active" and img["stores"] == store and img["checksum"] == MD5
    assert img["id"] in _objects(container)
    assert _download(node.session(ALICE), img["id"]) == store
    node.glance("image-delete", img["id"])
    assert img["id"] not in _objects(container)


def test_sdk_imports_to_s3(node):
    conn = node.sdk(ALICE)
    img = conn.image.create_image(name="sdk-s3", disk_format="raw", container_format="bare")
    conn.image.stage_image(img, data=DATA)
    # stores=, not store=: the SDK sends store= as both the header and `stores`, which Glance
    # refuses (400, "can't be both specified").
    r = conn.image.import_image(img, method="glance-direct", stores=["s3"])
    assert r.status_code == 202, r.text
    for _ in range(300):
        shown = node.session(ALICE).show(img.id)
        if shown["status"] == "active":
            break
        time.sleep(0.2)
    tasks = node.session(ALICE).get(f"/v2/images/{img.id}/tasks").json()["tasks"]
    assert shown["status"] == "active", (shown, tasks)
    assert shown["stores"] == "s3" and shown["checksum"] == MD5
    assert img.id in _objects("tessera")
    assert conn.image.download_image(img).content == DATA
    conn.image.delete_image(img.id)
    assert img.id not in _objects("tessera")


def test_copy_to_swift_and_s3_then_delete_and_lose_swift(node):
    alice, admin = node.session(ALICE), node.session(ADMIN)
    iid = alice.create(name="copied", disk_format="raw", container_format="bare")["id"]
    assert alice.put(f"/v2/images/{iid}/file", data=DATA,
                     headers={"Content-Type": "application/octet-stream"}).status_code == 204
    assert _copy(node, iid, "swift")["stores"] == "swift,fast"
    shown = _copy(node, iid, "s3")
    assert sorted(shown["stores"].split(",")) == ["fast", "s3", "swift"]
    assert iid in _objects("glance") and iid in _objects("tessera")
    # swift weighs most: reads come from it.
    assert _download(alice, iid) == "swift"
    node.glance("stores-delete", "--store", "swift", iid, token=ADMIN)
    assert sorted(alice.show(iid)["stores"].split(",")) == ["fast", "s3"]
    assert iid not in _objects("glance")
    assert _download(alice, iid) == "s3"
    # Swift (and its S3 face) goes away: the cluster's copy is served.
    _saio("stop")
    assert _download(alice, iid) == "fast"
    r = admin.get(f"/v2/images/{iid}/file", headers={"Range": "bytes=10-19"})
    assert r.status_code == 206 and r.content == DATA[10:20]
    # An upload to the store that is down: 503, and the image is still queued.
    down = alice.create(name="down", disk_format="raw", container_format="bare")["id"]
    r = alice.put(f"/v2/images/{down}/file", data=DATA,
                  headers={"Content-Type": "application/octet-stream",
                           "X-Image-Meta-Store": "swift"})
    assert r.status_code == 503 and "store unavailable" in r.text, r.text
    assert alice.show(down)["status"] == "queued"
