"""Free-space watermarks through the real binaries (issue 16). A node restarted with the
test-only `--unsafe-free-bytes=0` reports its chunk volume below its reserve: gossip says it is
full, it gets no new chunks while uploads succeed on the other two, and it still serves reads.
A node whose metadata volume reports below its reserve (`--unsafe-metadata-free-bytes=0`)
refuses a create with 413 and accepts a delete, and the other members, which apply every
write too, refuse growing writes while its advert says so. With two of three nodes full, fewer than
W = 2 can take a chunk: the upload fails with Glance's 413 for a full store and the image stays
queued, without data; with room again the same image uploads."""
from __future__ import annotations

import json
import os
import time

import pytest
import requests

from conftest import ADMIN, Cluster

MiB = 1024 * 1024
NAMES = ("n1", "n2", "n3")
FULL = "--serve-arg=--unsafe-free-bytes=0"
META_FULL = "--serve-arg=--unsafe-metadata-free-bytes=0"


@pytest.fixture(scope="module")
def cluster():
    c = Cluster(3, ["--replicator-interval=1"])
    try:
        yield c
    finally:
        c.down()


def _wait_for(what: str, limit: float, probe):
    deadline = time.monotonic() + limit
    last = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except (requests.RequestException, KeyError) as e:
            last = e
        else:
            if last:
                return last
        time.sleep(0.25)
    raise AssertionError(f"{what} not within {limit}s; last: {last!r}")


def _member(cluster, observer: str, name: str) -> dict:
    return next(m for m in cluster.status(observer)["members"] if m.get("name") == name)


def _restart(cluster, name: str, *args: str, full: bool):
    """Restarts `name` with `args` for this run only; waits until every node sees it alive
    and advertising `full`."""
    cluster.run("kill", name, "--signal", "TERM")

    def stopped():
        nodes = json.loads(cluster.run("status"))["nodes"]
        return not next(n for n in nodes if n["name"] == name)["running"]

    _wait_for(f"{name} to exit", 30, stopped)
    cluster.run("start", name, *args)
    _wait_for(f"every node to see {name} alive with full={full}", 30, lambda: all(
        _member(cluster, o, name)["gossip"] == "alive"
        and _member(cluster, o, name)["full"] is full for o in NAMES))


def _chunks(cluster, name: str) -> int:
    return _member(cluster, name, name)["chunks"]["count"]


def _create(api, name: str) -> dict:
    return _wait_for(f"create {name}", 30, lambda: api.create(name=name))


def test_a_full_node_gets_no_new_chunks_while_uploads_succeed_on_the_others(cluster):
    _restart(cluster, "n3", FULL, full=True)
    before = _chunks(cluster, "n3")
    data = os.urandom(3 * MiB)
    api = cluster.session("n1")
    img = _create(api, "space-two-of-three")
    r = api.upload(img["id"], data)
    assert r.status_code == 204, r.text
    assert api.show(img["id"])["status"] == "active"
    # A few replicator passes (1 s apart): none copies the chunks to the full node.
    time.sleep(4)
    assert _chunks(cluster, "n3") == before
    for n in ("n1", "n2"):
        assert _chunks(cluster, n) >= 2
    # Reads are unaffected, from the full node too.
    assert cluster.session("n3").download(img["id"]) == data


def test_a_node_below_its_metadata_reserve_refuses_a_create_and_accepts_a_delete(cluster):
    doomed = _create(cluster.session("n1"), "space-doomed")
    _restart(cluster, "n2", META_FULL, full=False)
    n2 = cluster.session("n2")
    r = n2.s.post(n2.url + "/v2/images", timeout=60,
                  json={"name": "space-refused", "disk_format": "raw",
                        "container_format": "bare"})
    assert r.status_code == 413, r.text
    assert "Metadata storage is full" in r.text
    assert "below its reserve" in r.text
    names = [i["name"] for i in cluster.session("n1").s.get(
        cluster.url("n1") + "/v2/images", timeout=60).json()["images"]]
    assert "space-refused" not in names
    # Every member applies every write: the others refuse growth too, once gossip told them.
    n1 = cluster.session("n1")
    _wait_for("n1 to see n2's metadata volume full", 30,
              lambda: _member(cluster, "n1", "n2")["metadata_full"])
    r = n1.s.post(n1.url + "/v2/images", timeout=60,
                  json={"name": "space-refused-too", "disk_format": "raw",
                        "container_format": "bare"})
    assert r.status_code == 413, r.text
    assert "the metadata volume of member 2 (n2) is below its reserve" in r.text
    r = n2.s.patch(f"{n2.url}/v2/images/{doomed['id']}", timeout=60,
                   headers={"Content-Type": "application/openstack-images-v2.1-json-patch"},
                   json=[{"op": "add", "path": "/grown", "value": "x"}])
    assert r.status_code == 413, r.text
    r = n2.s.delete(f"{n2.url}/v2/images/{doomed['id']}", timeout=60)
    assert r.status_code == 204, r.text
    r = cluster.session("n1").s.get(f"{cluster.url('n1')}/v2/images/{doomed['id']}", timeout=60)
    assert r.status_code == 404


def test_uploads_fail_as_storage_full_when_fewer_than_w_nodes_have_room(cluster):
    # n3 is still full from the first test; n2 now too (its metadata volume has room).
    _restart(cluster, "n2", FULL, full=True)
    api = cluster.session("n1")
    img = _create(api, "space-nowhere")
    data = os.urandom(512 * 1024)
    r = api.upload(img["id"], data)
    assert r.status_code == 413, r.text
    assert "Image storage media is full" in r.text
    shown = api.show(img["id"])
    assert shown["status"] == "queued"
    assert shown["size"] is None and shown["checksum"] is None
    # With room again the same image takes the upload.
    _restart(cluster, "n2", full=False)
    _restart(cluster, "n3", full=False)
    r = api.upload(img["id"], data)
    assert r.status_code == 204, r.text
    assert cluster.session("n3").download(img["id"]) == data
