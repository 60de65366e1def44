"""Glance's legacy location edits with `show_multiple_locations` and `show_image_direct_url`
on (as Tempest's ImageLocationsTest expects them): images show `locations` and `direct_url`;
`PATCH` add/replace/remove on `/locations` edits them in Glance's order of checks. A local
HTTP server on loopback serves the bytes; the node allows the loopback host. Runs in noauth
and in Keystone mode.
"""
import http.server
import threading

import pytest

from conftest import ADMIN, ALICE, BOB, READER, Server, random_image_bytes

DATA = random_image_bytes(300_001, seed=23)
SHA512 = "ab" * 64


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _answer(self, body: bool):
        if not self.path.startswith("/image"):
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(DATA)))
        self.end_headers()
        if body:
            self.wfile.write(DATA)

    def do_HEAD(self):
        self._answer(False)

    def do_GET(self):
        self._answer(True)


@pytest.fixture(scope="module")
def origin():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/image"
    httpd.shutdown()


@pytest.fixture(scope="module")
def node(tmp_path_factory, server):
    if server.external:
        pytest.skip("needs a self-started node with its own configuration")
    cfg = tmp_path_factory.mktemp("legacy-locations") / "node.toml"
    cfg.write_text("""
[api]
show_multiple_locations = true
show_image_direct_url = true

[import_filtering_opts]
allowed_hosts = ["127.0.0.1"]
allowed_ports = []

[stores]
default = "fast"

[[stores.store]]
id = "fast"
driver = "cluster"

[[stores.store]]
id = "web"
driver = "http"
""")
    n = Server(None, ("--config", str(cfg)))
    n.start()
    yield n
    n.stop()


def _queued(api):
    img = api.create(name="legacy-loc", disk_format="raw", container_format="bare")
    assert img["status"] == "queued" and img["locations"] == [], img
    assert "direct_url" not in img
    return img["id"]


def _add(api, image_id, value, pos="-"):
    return api.patch(f"/v2/images/{image_id}", [{"op": "add", "path": f"/locations/{pos}",
                                                "value": value}])


def _replace(api, image_id, value):
    return api.patch(f"/v2/images/{image_id}", [{"op": "replace", "path": "/locations",
                                                "value": value}])


def test_an_upload_shows_its_one_location_to_its_project_only(node):
    alice = node.session(ALICE)
    image_id = _queued(alice)
    alice.upload(image_id, DATA)
    img = node.session(READER).show(image_id)
    assert img["locations"] == [{"url": f"tessera://fast/{image_id}",
                                 "metadata": {"store": "fast"}}], img
    assert img["direct_url"] == img["locations"][0]["url"]
    # Another project sees the shared image, not where its data is.
    assert alice.patch(f"/v2/images/{image_id}", [
        {"op": "replace", "path": "/visibility", "value": "community"}]).status_code == 200
    seen = node.session(BOB).show(image_id)
    assert seen["locations"] == [] and "direct_url" not in seen
    alice.delete(f"/v2/images/{image_id}")


def test_locations_are_added_and_their_metadata_replaced(node, origin):
    alice = node.session(ALICE)
    image_id = _queued(alice)
    r = _add(alice, image_id, {"url": origin, "metadata": {"foo": "bar"}})
    assert r.status_code == 200, r.text
    img = alice.show(image_id)
    assert img["status"] == "active" and img["size"] == len(DATA)
    assert (img["os_hash_algo"], img["os_hash_value"]) == (None, None)
    assert img["locations"] == [{"url": origin, "metadata": {"foo": "bar", "store": "web"}}]
    assert img["direct_url"] == origin and img["stores"] == "web"
    assert alice.get(f"/v2/images/{image_id}/file").content == DATA
    assert _add(alice, image_id, {"url": f"{origin}#new", "metadata": {"speed": "88mph"}}
                ).status_code == 200
    img = alice.show(image_id)
    locs = img["locations"]
    assert [l["url"] for l in locs] == [origin, f"{origin}#new"] and img["stores"] == "web"
    # The same list again, then with changed metadata: accepted and kept.
    assert _replace(alice, image_id, locs).status_code == 200
    locs[0]["metadata"]["date"] = "2015-10-15"
    assert _replace(alice, image_id, locs).status_code == 200
    # Dropping one, or changing a URL: 400, nothing changes.
    assert _replace(alice, image_id, [locs[0]]).status_code == 400
    other = {"url": f"{origin}#new3", "metadata": locs[1]["metadata"]}
    assert _replace(alice, image_id, [locs[0], other]).status_code == 400
    assert alice.show(image_id)["locations"] == locs
    # A duplicate, an unknown scheme, an unreachable URL, a bad position: 400.
    for value, pos in [({"url": origin, "metadata": {}}, "-"),
                       ({"url": "gopher://info.cern.ch", "metadata": {}}, "-"),
                       ({"url": origin.replace("/image", "/missing"), "metadata": {}}, "-"),
                       ({"url": f"{origin}#x", "metadata": {}}, "7"),
                       ({"url": f"{origin}#y"}, "-")]:
        r = _add(alice, image_id, value, pos)
        assert r.status_code == 400, (value, pos, r.text)
    assert alice.show(image_id)["locations"] == locs
    # Location edits do not mix with other changes.
    r = alice.patch(f"/v2/images/{image_id}", [
        {"op": "replace", "path": "/name", "value": "x"},
        {"op": "add", "path": "/locations/-", "value": {"url": f"{origin}#z", "metadata": {}}}])
    assert r.status_code == 400 and alice.show(image_id)["name"] == "legacy-loc"
    alice.delete(f"/v2/images/{image_id}")


def test_validation_data_sets_the_digests_once(node, origin):
    alice = node.session(ALICE)
    image_id = _queued(alice)
    vouched = {"checksum": "1" * 32, "os_hash_algo": "sha512", "os_hash_value": SHA512}
    r = _add(alice, image_id, {"url": origin, "metadata": {}, "validation_data": vouched})
    assert r.status_code == 200, r.text
    img = alice.show(image_id)
    assert (img["checksum"], img["os_hash_algo"], img["os_hash_value"]) == \
        ("1" * 32, "sha512", SHA512)
    assert "validation_data" not in img["locations"][0]
    # The same values on a second location: fine; any other: 409, nothing changes.
    assert _add(alice, image_id, {"url": f"{origin}#2", "metadata": {},
                                  "validation_data": vouched}).status_code == 200
    for key, value in [("checksum", "2" * 32), ("os_hash_value", "cd" * 64),
                       ("os_hash_algo", "sha256")]:
        r = _add(alice, image_id, {"url": f"{origin}#3", "metadata": {},
                                   "validation_data": {**vouched, key: value}})
        assert r.status_code == 409, (key, r.text)
    assert len(alice.show(image_id)["locations"]) == 2
    # A queued image refuses a hash of another algorithm or size (409).
    other = _queued(alice)
    r = _add(alice, other, {"url": origin, "metadata": {}, "validation_data": {
        "os_hash_algo": "sha256", "os_hash_value": "ab" * 32}})
    assert r.status_code == 409 and "os_hash_algo must be sha512" in r.text
    assert alice.show(other)["status"] == "queued"
    for i in (image_id, other):
        alice.delete(f"/v2/images/{i}")


def test_removing_needs_admin_an_active_image_and_another_location(node, origin):
    alice, admin = node.session(ALICE), node.session(ADMIN)
    image_id = _queued(alice)
    alice.upload(image_id, DATA)
    assert _add(alice, image_id, {"url": origin, "metadata": {}}).status_code == 200
    remove = [{"op": "remove", "path": "/locations/1"}]
    assert alice.patch(f"/v2/images/{image_id}", remove).status_code == 403
    assert admin.patch(f"/v2/images/{image_id}",
                       [{"op": "remove", "path": "/locations/5"}]).status_code == 400
    # Removing the cluster copy leaves the image on the http location alone.
    r = admin.patch(f"/v2/images/{image_id}", [{"op": "remove", "path": "/locations/0"}])
    assert r.status_code == 200, r.text
    img = alice.show(image_id)
    assert [l["url"] for l in img["locations"]] == [origin] and img["stores"] == "web"
    assert alice.get(f"/v2/images/{image_id}/file").content == DATA
    r = admin.patch(f"/v2/images/{image_id}", [{"op": "remove", "path": "/locations/0"}])
    assert r.status_code == 403 and "last location" in r.text
    alice.delete(f"/v2/images/{image_id}")


def test_glance_cli_edits_locations(node, origin):
    alice = node.session(ALICE)
    image_id = _queued(alice)
    node.glance("location-add", "--url", origin, "--metadata", '{"a": "b"}', image_id)
    node.glance("location-add", "--url", f"{origin}#cli", image_id)
    node.glance("location-update", "--url", origin, "--metadata", '{"a": "c"}', image_id)
    img = alice.show(image_id)
    assert img["status"] == "active"
    assert img["locations"][0] == {"url": origin, "metadata": {"a": "c", "store": "web"}}
    node.glance("location-delete", "--url", f"{origin}#cli", image_id, token=ADMIN)
    assert [l["url"] for l in alice.show(image_id)["locations"]] == [origin]
    alice.delete(f"/v2/images/{image_id}")
