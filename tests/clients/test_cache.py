"""The image cache API (2.14) with the real clients: `glance cache-list/cache-queue/
cache-delete/cache-clear`, openstacksdk's `get_image_cache`/`queue_image`/`cache_delete_image`/
`clear_cache`, and plain HTTP for Glance's statuses and bodies.

A node of its own runs with the cache on and a small `image_cache_max_size`, or
`TESSERA_CACHE_URL` names a server with its cache on (the real Glance in Keystone mode, as
../shared/peer/glance-start.sh starts it, has one); against another external server
(`TESSERA_URL` alone) the suite is skipped.
"""
import os
import shutil
import signal
import time

import pytest

from conftest import ADMIN, ALICE, Server, parse_table, random_image_bytes

# Three images of this size fit; a fourth makes the least recently used one go.
IMAGE = 1_500_000
MAX_SIZE = 3 * IMAGE + IMAGE // 2


@pytest.fixture(scope="module")
def node(server):
    external = os.environ.get("TESSERA_CACHE_URL")
    if external:
        srv = Server(external)
        srv.start()
        yield srv
        return
    if server.external:
        pytest.skip("needs a self-started node with its cache on (TESSERA_URL is set)")
    srv = Server(None, args=("--image-cache", "true",
                             "--image-cache-max-size", str(MAX_SIZE)))
    srv.start()
    try:
        yield srv
    finally:
        srv.stop(signal.SIGTERM)
        shutil.rmtree(srv.tmp, ignore_errors=True)


@pytest.fixture
def fresh(node):
    """An empty cache before and after the test."""
    adm = node.session(ADMIN)
    assert adm.delete("/v2/cache").status_code == 204
    yield adm
    adm.delete("/v2/cache")


def _active(api, run_id, name, size=IMAGE):
    img = api.create(name=f"{run_id}-cache-{name}", disk_format="raw",
                     container_format="bare")
    data = random_image_bytes(size)
    api.upload(img["id"], data)
    return img["id"], data


def _state(adm):
    r = adm.get("/v2/cache")
    assert r.status_code == 200, (r.status_code, r.text)
    return r.json()


def _wait_cached(adm, image_id, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        state = _state(adm)
        if any(c["image_id"] == image_id for c in state["cached_images"]):
            return state
        time.sleep(0.2)
    raise AssertionError(f"{image_id} not cached after {timeout}s: {_state(adm)}")


def test_versions_list_the_cache_api(node):
    ids = [v["id"] for v in node.session(ALICE).get("/versions").json()["versions"]]
    assert "v2.14" in ids


def test_http_statuses_and_bodies(node, fresh, run_id, cleanup):
    adm, alice = fresh, node.session(ALICE)
    # Admin only (cache_list, cache_image, cache_delete).
    assert alice.get("/v2/cache").status_code == 403
    assert alice.delete("/v2/cache").status_code == 403
    image_id, _ = _active(alice, run_id, "http")
    cleanup.append(image_id)
    assert alice.put(f"/v2/cache/{image_id}").status_code == 403
    assert alice.delete(f"/v2/cache/{image_id}").status_code == 403
    # Unknown image, image without data.
    r = adm.put("/v2/cache/00000000-0000-0000-0000-000000000000")
    assert r.status_code == 404, r.text
    queued = adm.create(name=f"{run_id}-cache-queued", disk_format="raw",
                        container_format="bare")
    cleanup.append(queued["id"])
    r = adm.put(f"/v2/cache/{queued['id']}")
    assert r.status_code == 400 and "Only images with status active" in r.text, r.text
    assert adm.delete("/v2/cache/00000000-0000-0000-0000-000000000000").status_code == 404
    # Queue: 202, cached by the prefetcher, shown with Glance's fields.
    assert adm.put(f"/v2/cache/{image_id}").status_code == 202
    state = _wait_cached(adm, image_id)
    rec = next(c for c in state["cached_images"] if c["image_id"] == image_id)
    assert {"image_id", "hits", "last_accessed", "last_modified", "size"} <= rec.keys()
    assert rec["size"] == IMAGE and rec["hits"] == 0
    assert state["queued_images"] == []
    # A bad clear target changes nothing.
    r = adm.delete("/v2/cache", headers={"x-image-cache-clear-target": "invalid"})
    assert r.status_code == 400, r.text
    assert len(_state(adm)["cached_images"]) == 1
    # Method not allowed lists the methods.
    r = adm.post("/v2/cache")
    assert r.status_code == 405 and set(r.headers["Allow"].split(", ")) == {"GET", "DELETE"}
    # Delete one: 204, gone from the listing; deleting it again is still 204.
    assert adm.delete(f"/v2/cache/{image_id}").status_code == 204
    assert _state(adm)["cached_images"] == []
    assert adm.delete(f"/v2/cache/{image_id}").status_code == 204


def test_downloads_count_hits_and_cache_on_read(node, fresh, run_id, cleanup):
    if os.environ.get("TESSERA_CACHE_URL"):
        # Glance caches on read only with its cache middleware in the paste pipeline
        # (flavor `keystone+cache`); the peer of ../shared/peer runs flavor `keystone`.
        pytest.skip("the external server may run without Glance's cache middleware")
    adm, alice = fresh, node.session(ALICE)
    image_id, data = _active(alice, run_id, "hits")
    cleanup.append(image_id)
    # A range read caches nothing; a first full download caches the image (no hit yet).
    r = alice.get(f"/v2/images/{image_id}/file", headers={"Range": "bytes=0-99"})
    assert r.status_code == 206
    assert _state(adm)["cached_images"] == []
    assert alice.get(f"/v2/images/{image_id}/file").content == data
    rec = _wait_cached(adm, image_id)["cached_images"][0]
    assert rec["hits"] == 0
    # Each full download served from the cache is a hit and moves last_accessed.
    for _ in range(2):
        assert alice.get(f"/v2/images/{image_id}/file").content == data
    again = _state(adm)["cached_images"][0]
    assert again["hits"] == 2 and again["last_accessed"] >= rec["last_accessed"]
    # Deleting the image removes it from the cache.
    assert alice.delete(f"/v2/images/{image_id}").status_code == 204
    assert _state(adm)["cached_images"] == []


def test_least_recently_used_images_are_pruned(node, fresh, run_id, cleanup):
    if os.environ.get("TESSERA_CACHE_URL"):
        pytest.skip("the external server's image_cache_max_size is not known")
    adm, alice = fresh, node.session(ALICE)
    ids = []
    for i in range(3):
        image_id, _ = _active(alice, run_id, f"lru{i}")
        cleanup.append(image_id)
        ids.append(image_id)
        assert adm.put(f"/v2/cache/{image_id}").status_code == 202
        _wait_cached(adm, image_id)
    # Touch the first, so the second is the least recently used.
    assert len(alice.get(f"/v2/images/{ids[0]}/file").content) == IMAGE
    fourth, _ = _active(alice, run_id, "lru3")
    cleanup.append(fourth)
    assert adm.put(f"/v2/cache/{fourth}").status_code == 202
    state = _wait_cached(adm, fourth)
    cached = {c["image_id"] for c in state["cached_images"]}
    assert cached == {ids[0], ids[2], fourth}, state
    assert sum(c["size"] for c in state["cached_images"]) <= MAX_SIZE


def test_glance_cli_cache_commands(node, fresh, run_id, cleanup):
    alice = node.session(ALICE)
    first, _ = _active(alice, run_id, "cli1")
    second, _ = _active(alice, run_id, "cli2")
    cleanup.extend([first, second])
    node.glance("cache-queue", first, second, token=ADMIN)
    _wait_cached(fresh, first)
    _wait_cached(fresh, second)
    rows = parse_table(node.glance("cache-list", token=ADMIN).stdout)
    states = {r[0]: r[1] for r in rows[1:]}
    assert states.get(first) == "cached" and states.get(second) == "cached", rows
    node.glance("cache-delete", first, token=ADMIN)
    rows = parse_table(node.glance("cache-list", token=ADMIN).stdout)
    assert first not in {r[0] for r in rows[1:]}
    # A non-admin is told so, and nothing changes.
    p = node.glance("cache-clear", token=ALICE, check=False)
    assert "not permitted" in p.stderr, p.stderr
    assert len(_state(fresh)["cached_images"]) == 1
    node.glance("cache-clear", "--target", "queue", token=ADMIN)
    assert len(_state(fresh)["cached_images"]) == 1
    node.glance("cache-clear", "--target", "cache", token=ADMIN)
    assert _state(fresh)["cached_images"] == []


def test_openstacksdk_cache_calls(node, fresh, run_id, cleanup):
    alice = node.session(ALICE)
    image_id, _ = _active(alice, run_id, "sdk")
    cleanup.append(image_id)
    conn = node.sdk(ADMIN)
    conn.image.queue_image(image_id)
    _wait_cached(fresh, image_id)
    cache = conn.image.get_image_cache()
    assert [c.image_id for c in cache.cached_images] == [image_id]
    assert cache.cached_images[0].size == IMAGE
    conn.image.cache_delete_image(image_id)
    assert conn.image.get_image_cache().cached_images == []
    conn.image.queue_image(image_id)
    _wait_cached(fresh, image_id)
    conn.image.clear_cache("both")
    cache = conn.image.get_image_cache()
    assert cache.cached_images == [] and cache.queued_images == []
