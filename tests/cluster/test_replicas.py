"""Two cluster stores with their own replica counts on a real 4-node cluster: `fast` (R=3,
the default) and `economy` (R=2). Uploads place R(store) copies of each chunk; copy-image
economy -> fast raises the copies to 3 before the task succeeds (no bytes are re-uploaded);
deleting the fast location lets the loops bring them back to 2; reads still work with a node
stopped. Periods are shortened with serve flags."""
from __future__ import annotations

import os
import time

import pytest
import requests

from conftest import ADMIN, Cluster
from test_loops_repl import copies

MiB = 1024 * 1024
FLAGS = ["--replicator-interval=1", "--handoff-grace=3", "--reaper-interval=1",
         "--reaper-grace=10", "--upload-timeout=8"]


@pytest.fixture(scope="module")
def two_stores(tmp_path_factory):
    cfg = tmp_path_factory.mktemp("replicas") / "node.toml"
    cfg.write_text("""
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
""")
    c = Cluster(4, [f"--config={cfg}", *FLAGS])
    try:
        yield c
    finally:
        c.down()


def names(c: Cluster) -> list[str]:
    return [n["name"] for n in c.nodes]


def upload_to(c: Cluster, store: str, size: int) -> tuple[str, bytes, set[str]]:
    """An image uploaded to `store` through n1, its bytes and its chunk ids (the manifest's
    included: the chunk files that appeared)."""
    before = set(copies(c, names(c)))
    api = c.session("n1")
    data = os.urandom(size)
    img = api.create(name=f"to-{store}")
    r = api.s.put(f"{api.url}/v2/images/{img['id']}/file", data=data, timeout=300,
                  headers={"Content-Type": "application/octet-stream",
                           "X-Image-Meta-Store": store})
    assert r.status_code == 204, r.text
    assert api.show(img["id"])["stores"] == store
    ids = set(copies(c, names(c))) - before
    assert len(ids) >= 3, ids
    return img["id"], data, ids


def wait_copies(c: Cluster, ids: set[str], want: int, timeout: float, steady: float = 4):
    """Every chunk of `ids` on exactly `want` nodes, and still so `steady` seconds later
    (the loops have had passes to move it)."""
    deadline = time.monotonic() + timeout
    since = None
    while True:
        count = copies(c, names(c))
        off = {i: count[i] for i in ids if count[i] != want}
        if off:
            since = None
        elif since is None:
            since = time.monotonic()
        elif time.monotonic() - since >= steady:
            return
        assert time.monotonic() < deadline, f"{len(off)} chunks not at {want}: {list(off.items())[:5]}"
        time.sleep(0.5)


def copy_image(c: Cluster, image_id: str, store: str) -> dict:
    api = c.session("n1")
    r = api.s.post(f"{api.url}/v2/images/{image_id}/import", timeout=60,
                   json={"method": {"name": "copy-image"}, "stores": [store]})
    assert r.status_code == 202, r.text
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        tasks = api.s.get(f"{api.url}/v2/images/{image_id}/tasks", timeout=30).json()["tasks"]
        if tasks and all(t["status"] in ("success", "failure") for t in tasks):
            assert all(t["status"] == "success" for t in tasks), tasks
            return api.show(image_id)
        time.sleep(0.2)
    raise AssertionError(f"copy of {image_id} to {store} did not finish")


def test_each_store_keeps_its_own_copies(two_stores):
    c = two_stores
    detail = {s["id"]: s for s in requests.get(
        c.url("n2") + "/v2/info/stores/detail", headers={"X-Auth-Token": ADMIN},
        timeout=30).json()["stores"]}
    assert detail["fast"]["properties"]["replicas"] == 3
    assert detail["economy"]["properties"]["replicas"] == 2

    cheap, cheap_data, cheap_ids = upload_to(c, "economy", 6 * MiB)
    dear, dear_data, dear_ids = upload_to(c, "fast", 6 * MiB)
    wait_copies(c, cheap_ids, 2, 30)
    wait_copies(c, dear_ids, 3, 30)

    # Same chunk store: the copy moves no image bytes, but the chunks are at the new
    # store's count when the task reports success.
    shown = copy_image(c, cheap, "fast")
    assert shown["stores"] == "fast,economy", shown
    count = copies(c, names(c))
    assert all(count[i] == 3 for i in cheap_ids), {i: count[i] for i in cheap_ids}
    wait_copies(c, cheap_ids, 3, 30)

    # The R=3 location goes: the surplus copies go the handoff way, back to 2.
    api = c.session("n1")
    r = api.s.delete(f"{api.url}/v2/stores/fast/{cheap}", timeout=60)
    assert r.status_code == 204, r.text
    assert api.show(cheap)["stores"] == "economy"
    wait_copies(c, cheap_ids, 2, 60)
    wait_copies(c, dear_ids, 3, 10)

    # A node stopped: both images still read whole (every chunk has another copy).
    c.run("kill", "n4", "--signal", "KILL")
    for name in ("n1", "n3"):
        reader = c.session(name)
        assert reader.download(cheap) == cheap_data
        assert reader.download(dear) == dear_data
