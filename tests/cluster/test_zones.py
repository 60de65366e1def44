"""Cluster stores confined to zones on a real 4-node cluster whose nodes are in two zones
(n1, n3 in `a`; n2, n4 in `b`): an upload places copies only on its store's zone, whichever
node serves it; copy-image into a store of the other zone adds copies there before the task
succeeds; deleting the first store's copy leaves the chunks only in the second's zone, and
a node of the other zone still reads the image."""
from __future__ import annotations

import time

import pytest
import requests

from conftest import ADMIN, Cluster
from test_loops_repl import held
from test_replicas import FLAGS, MiB, copy_image, names, upload_to, wait_copies

ZONE = {"n1": "a", "n2": "b", "n3": "a", "n4": "b"}


@pytest.fixture(scope="module")
def zoned(tmp_path_factory):
    cfg = tmp_path_factory.mktemp("zones") / "node.toml"
    cfg.write_text("""
[stores]
default = "rack-a"

[[stores.store]]
id = "rack-a"
driver = "cluster"
replicas = 2
zones = ["a"]

[[stores.store]]
id = "rack-b"
driver = "cluster"
replicas = 1
zones = ["b"]
""")
    c = Cluster(4, [f"--config={cfg}", *FLAGS], zones=["a", "b"])
    try:
        yield c
    finally:
        c.down()


def zones_holding(c: Cluster, ids: set[str]) -> dict[str, set[str]]:
    """For each chunk of `ids`, the zones of the nodes holding it."""
    out: dict[str, set[str]] = {i: set() for i in ids}
    for n in names(c):
        for i in held(c, n) & ids:
            out[i].add(ZONE[n])
    return out


def test_copies_stay_in_their_stores_zones(zoned):
    c = zoned
    deadline = time.monotonic() + 30
    while True:
        gossip = {m.get("name"): m.get("zone") for m in c.status("n1")["members"]}
        if gossip == ZONE:
            break
        assert time.monotonic() < deadline, gossip
        time.sleep(0.5)
    detail = {s["id"]: s for s in requests.get(
        c.url("n2") + "/v2/info/stores/detail", headers={"X-Auth-Token": ADMIN},
        timeout=30).json()["stores"]}
    assert detail["rack-a"]["properties"]["zones"] == ["a"]
    assert detail["rack-b"]["properties"]["zones"] == ["b"]

    # Uploaded through n1 (zone a) into rack-a: both zone-a nodes, nothing in b.
    image, data, ids = upload_to(c, "rack-a", 6 * MiB)
    wait_copies(c, ids, 2, 30)
    assert all(z == {"a"} for z in zones_holding(c, ids).values())

    # Into rack-b: zone a's copies count for nothing there, one copy lands in b first.
    shown = copy_image(c, image, "rack-b")
    assert shown["stores"] == "rack-a,rack-b", shown
    assert all(z == {"a", "b"} for z in zones_holding(c, ids).values())
    wait_copies(c, ids, 3, 30)

    # rack-a's copy goes: the chunks leave zone a, one copy stays in b.
    api = c.session("n3")
    r = api.s.delete(f"{api.url}/v2/stores/rack-a/{image}", timeout=60)
    assert r.status_code == 204, r.text
    assert api.show(image)["stores"] == "rack-b"
    wait_copies(c, ids, 1, 60)
    assert all(z == {"b"} for z in zones_holding(c, ids).values())

    # Read from a zone-a node, which holds nothing of it now.
    assert c.session("n1").download(image) == data
