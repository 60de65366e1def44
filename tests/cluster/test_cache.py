"""The image cache on a real 4-node cluster with R=2: a node that holds only part of an image
caches all of it when queued (the `cache-prefetch` worker, shown among the workers), keeps it
through replicator passes whose handoff would otherwise drop what it is no target of, and the
cache is per node: the others list nothing."""
from __future__ import annotations

import time

import pytest
import requests

from conftest import ADMIN, Cluster
from test_loops_repl import MiB, held, upload

FAST = ["--replicas=2", "--replicator-interval=1", "--handoff-grace=2",
        "--snapshot-logs=20", "--image-cache=true"]


@pytest.fixture
def cluster4():
    c = Cluster(4, FAST)
    try:
        yield c
    finally:
        c.down()


def cache_state(cluster: Cluster, name: str) -> dict:
    r = requests.get(cluster.url(name) + "/v2/cache", headers={"X-Auth-Token": ADMIN},
                     timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def test_a_node_caches_a_whole_image_and_keeps_it(cluster4):
    names = [n["name"] for n in cluster4.nodes]
    image, data = upload(cluster4, "n1", 12 * MiB, 7)
    # Chunks of the image (and its manifest): every chunk file any node holds.
    ids = set().union(*(held(cluster4, n) for n in names))
    lacking = {n: ids - held(cluster4, n) for n in names}
    node = max(names, key=lambda n: len(lacking[n]))
    assert lacking[node], "with R=2 of 4 some node lacks chunks"
    r = requests.put(f"{cluster4.url(node)}/v2/cache/{image}",
                     headers={"X-Auth-Token": ADMIN}, timeout=30)
    assert r.status_code == 202, r.text
    deadline = time.monotonic() + 60
    while not cache_state(cluster4, node)["cached_images"]:
        assert time.monotonic() < deadline, cache_state(cluster4, node)
        time.sleep(0.5)
    rec = cache_state(cluster4, node)["cached_images"][0]
    assert (rec["image_id"], rec["size"], rec["hits"]) == (image, 12 * MiB, 0)
    assert held(cluster4, node) >= ids
    workers = requests.get(f"{cluster4.url(node)}/tessera/v1/workers",
                           headers={"X-Auth-Token": ADMIN}, timeout=30).json()
    assert "cache-prefetch" in str(workers)
    # Several replicator passes past the handoff grace: the cached copies stay.
    time.sleep(8)
    assert held(cluster4, node) >= ids
    # A full download through the node is a hit; the other nodes cached nothing of it
    # (downloads there would cache it there: the cache is per node).
    assert cluster4.session(node).download(image) == data
    assert cache_state(cluster4, node)["cached_images"][0]["hits"] == 1
    for other in names:
        if other != node:
            assert cache_state(cluster4, other)["cached_images"] == []
    # Removed from the cache, the copies it is no target of are handed off again.
    r = requests.delete(f"{cluster4.url(node)}/v2/cache/{image}",
                        headers={"X-Auth-Token": ADMIN}, timeout=30)
    assert r.status_code == 204
    deadline = time.monotonic() + 60
    while held(cluster4, node) >= ids:
        assert time.monotonic() < deadline, "uncached copies never handed off"
        time.sleep(0.5)
