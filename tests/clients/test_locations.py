"""The locations API (2.17): `POST /v2/images/{id}/locations` adds an http location to a
queued image (a `location_import` task reads its size and, with `do_secure_hash`, its
digests, checked against `validation_data`), `GET /v2/images/{id}/locations` lists an
image's copies for the `service` role. A local HTTP server on loopback serves the bytes; the
node allows the loopback host (test-only allow-list, as in test_web_download.py). Runs in
noauth and in Keystone mode (a real service-role user).
"""
import hashlib
import http.server
import json
import threading
import time

import pytest

import conftest
from conftest import ADMIN, ALICE, BOB, KEYSTONE, READER, Server, random_image_bytes

DATA = random_image_bytes(2 * 1024 * 1024 + 5, seed=17)
MD5 = hashlib.md5(DATA).hexdigest()
SHA256 = hashlib.sha256(DATA).hexdigest()
SHA512 = hashlib.sha512(DATA).hexdigest()


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_HEAD(self):
        # Only /stream answers HEAD; elsewhere the node falls back to a ranged GET.
        if self.path.startswith("/stream"):
            self.send_response(200)
            self.send_header("Content-Length", str(len(DATA)))
            self.end_headers()
        else:
            self.send_error(501)

    def do_GET(self):
        if self.path.startswith("/image"):
            self.send_response(200)
            self.send_header("Content-Length", str(len(DATA)))
            self.end_headers()
            self.wfile.write(DATA)
        elif self.path.startswith("/stream"):
            # No length, the end of the body is the end of the connection; slow when asked.
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            pause = 0.5 if "slow" in self.path else 0
            try:
                for at in range(0, len(DATA), 65536):
                    self.wfile.write(DATA[at:at + 65536])
                    time.sleep(pause)
            except OSError:
                pass  # the reader hung up
            self.close_connection = True
        else:
            self.send_error(404)


def _service_token() -> str:
    """A user of alice's project holding the `service` role (as Nova's or Cinder's)."""
    if not KEYSTONE:
        return "svc:projA:member,reader,service"
    ks = conftest.ks
    a = ks.Admin()
    project = a.ensure("projects", {"name": "tessc-A", "domain_id": "default"})
    user = a.ensure("users", {"name": "tessc-svc", "domain_id": "default",
                              "password": "secret-tessc-svc"})
    for role in ("member", "reader", "service"):
        a.grant(project, user, role)
    return ks.password_token("tessc-svc", "secret-tessc-svc", "tessc-A")


@pytest.fixture(scope="module")
def origin():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def node(tmp_path_factory, server):
    """A node with the cluster store (default) and a read-only http store `web`, allowing
    the loopback host."""
    if server.external:
        pytest.skip("needs a self-started node with its own configuration")
    cfg = tmp_path_factory.mktemp("locations") / "node.toml"
    cfg.write_text("""
[import_filtering_opts]
allowed_hosts = ["127.0.0.1"]
allowed_ports = []

[stores]
default = "fast"

[[stores.store]]
id = "fast"
driver = "cluster"
weight = 10

[[stores.store]]
id = "web"
driver = "http"
""")
    n = Server(None, ("--config", str(cfg)))
    n.start()
    yield n
    n.stop()


@pytest.fixture(scope="module")
def service():
    return _service_token()


def _create(api):
    return api.create(name="loc", disk_format="raw", container_format="bare")


def _add(api, image_id, url, validation=None):
    body = {"url": url}
    if validation is not None:
        body["validation_data"] = validation
    return api.post(f"/v2/images/{image_id}/locations", json=body)


def _settle(api, image_id, timeout=60):
    """The image once its last task finished, and that task."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tasks = api.get(f"/v2/images/{image_id}/tasks").json()["tasks"]
        if tasks and tasks[-1]["status"] in ("success", "failure"):
            return api.show(image_id), tasks[-1]
        time.sleep(0.2)
    raise AssertionError(f"location task of {image_id} did not finish: {api.show(image_id)}")


def test_glance_cli_adds_a_location_checked_against_sha256(node, origin, service):
    alice = node.session(ALICE)
    image_id = _create(alice)["id"]
    node.glance("add-location", "--url", f"{origin}/image",
                "--validation-data", json.dumps({"os_hash_algo": "sha256",
                                                 "os_hash_value": SHA256}), image_id)
    img, task = _settle(alice, image_id)
    assert task["status"] == "success" and task["type"] == "location_import", task
    assert img["status"] == "active" and img["size"] == len(DATA)
    assert (img["checksum"], img["os_hash_algo"], img["os_hash_value"]) == (MD5, "sha256", SHA256)
    assert img["stores"] == "web"
    # The data reads back through the http store.
    r = alice.get(f"/v2/images/{image_id}/file")
    assert r.status_code == 200 and r.content == DATA
    # The service role lists the locations, with glanceclient's own call.
    from glanceclient import Client
    gc = Client("2", endpoint=node.url, token=service)
    locations = gc.images.get_image_locations(image_id)
    assert locations == [{"url": f"{origin}/image", "metadata": {"store": "web"}}]
    alice.delete(f"/v2/images/{image_id}")


def test_without_validation_data_the_digests_are_computed(node, origin):
    alice = node.session(ALICE)
    image_id = _create(alice)["id"]
    r = _add(alice, image_id, f"{origin}/image?plain")
    assert r.status_code == 202, r.text
    img, task = _settle(alice, image_id)
    assert task["status"] == "success", task
    assert (img["status"], img["size"], img["checksum"]) == ("active", len(DATA), MD5)
    assert (img["os_hash_algo"], img["os_hash_value"]) == ("sha512", SHA512)
    # A second location on an active image: 409, nothing changed.
    r = _add(alice, image_id, f"{origin}/image?again")
    assert r.status_code == 409 and "image status is active" in r.text
    assert alice.show(image_id) == img
    alice.delete(f"/v2/images/{image_id}")


def test_a_streamed_location_is_sized_by_head_and_deleting_cancels_its_hashing(node, origin):
    alice = node.session(ALICE)
    image_id = _create(alice)["id"]
    assert _add(alice, image_id, f"{origin}/stream").status_code == 202
    img, task = _settle(alice, image_id)
    assert task["status"] == "success", task
    assert (img["size"], img["checksum"], img["os_hash_value"]) == (len(DATA), MD5, SHA512)
    alice.delete(f"/v2/images/{image_id}")
    # Glance's order without validation_data: active at once, digests computed after; a
    # delete meanwhile cancels the reading (the slow body would take 16 s).
    image_id = _create(alice)["id"]
    assert _add(alice, image_id, f"{origin}/stream?slow").status_code == 202
    deadline = time.monotonic() + 30
    while alice.show(image_id)["status"] != "active":
        assert time.monotonic() < deadline, alice.show(image_id)
        time.sleep(0.2)
    img = alice.show(image_id)
    assert (img["os_hash_algo"], img["os_hash_value"], img["size"]) == ("sha512", None, len(DATA))
    tasks = alice.get(f"/v2/images/{image_id}/tasks").json()["tasks"]
    assert tasks[0]["status"] == "processing"
    started = time.monotonic()
    assert alice.delete(f"/v2/images/{image_id}").status_code == 204
    task_id = tasks[0]["id"]
    admin = node.session(ADMIN)
    while True:
        task = admin.get(f"/v2/tasks/{task_id}").json()
        if task["status"] != "processing":
            break
        assert time.monotonic() - started < 10, task
        time.sleep(0.2)
    assert task["status"] == "failure" and "canceled" in task["message"], task


def test_a_hash_mismatch_fails_the_task_and_leaves_the_image_queued(node, origin):
    alice = node.session(ALICE)
    image_id = _create(alice)["id"]
    r = _add(alice, image_id, f"{origin}/image",
             {"os_hash_algo": "sha512", "os_hash_value": "beefdead" * 16})
    assert r.status_code == 202, r.text
    img, task = _settle(alice, image_id)
    assert task["status"] == "failure" and "not matched" in task["message"], task
    assert img["status"] == "queued"
    assert (img["checksum"], img["os_hash_algo"], img["os_hash_value"]) == (None, None, None)
    # Glance keeps an http location on the queued image (Tempest checks `stores`).
    assert img["stores"] == "web" and "os_glance_import_task" not in img
    # The lock is free again: a right location now makes the image active.
    r = _add(alice, image_id, f"{origin}/image",
             {"os_hash_algo": "sha512", "os_hash_value": SHA512})
    assert r.status_code == 202, r.text
    img, task = _settle(alice, image_id)
    assert task["status"] == "success" and img["status"] == "active", (task, img)
    alice.delete(f"/v2/images/{image_id}")


def test_an_unreachable_location_fails_cleanly(node, origin):
    alice = node.session(ALICE)
    image_id = _create(alice)["id"]
    before = alice.show(image_id)
    r = _add(alice, image_id, f"{origin}/missing")
    assert r.status_code == 202, r.text
    img, task = _settle(alice, image_id)
    assert task["status"] == "failure" and "404" in task["message"], task
    assert img["status"] == "queued" and "stores" not in img and img["size"] is None
    assert {k: v for k, v in img.items() if k != "updated_at"} == \
        {k: v for k, v in before.items() if k != "updated_at"}
    alice.delete(f"/v2/images/{image_id}")


def test_bad_input_is_refused_and_changes_nothing(node, origin):
    alice, bob = node.session(ALICE), node.session(BOB)
    image_id = _create(alice)["id"]
    url = f"{origin}/image"
    cases = [
        ({"os_hash_algo": "sha512", "os_hash_value": "dbc9e0f80d131e64b94913a7b40bb5"}, 400,
         "not the correct size"),
        ({"os_hash_value": SHA512}, 400, "os_hash_algo"),
        ({"os_hash_algo": "sha123", "os_hash_value": SHA512}, 400, "sha123"),
        ({"os_hash_algo": "sha512", "os_hash_value": SHA256}, 400, "should be (64) bytes"),
        ({"os_hash_algo": "md5", "os_hash_value": "z" * 32}, 400, "hexadecimal"),
        ({"os_hash_algo": "md5", "os_hash_value": MD5, "checksum": MD5}, 400, "checksum"),
    ]
    for validation, status, text in cases:
        r = _add(alice, image_id, url, validation)
        assert (r.status_code, text in r.text) == (status, True), (validation, r.text)
    r = alice.post(f"/v2/images/{image_id}/locations", json={"validation_data": {}})
    assert r.status_code == 400 and "url" in r.text
    r = alice.post(f"/v2/images/{image_id}/locations", data=b"{not json",
                   headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    # A URL no http store reads, by a user without the service role: Glance's 403.
    r = _add(alice, image_id, "file:///etc/passwd")
    assert r.status_code == 403 and "http store must be enabled" in r.text
    # Another project's image is not there; a reader may not add.
    assert _add(bob, image_id, url).status_code == 404
    assert _add(node.session(READER), image_id, url).status_code == 403
    assert _add(alice, "00000000-0000-0000-0000-000000000000", url).status_code == 404
    img = alice.show(image_id)
    assert img["status"] == "queued" and "stores" not in img
    assert alice.get(f"/v2/images/{image_id}/tasks").json()["tasks"] == []
    alice.delete(f"/v2/images/{image_id}")


def test_locations_are_listed_for_the_service_role_only(node, origin, service, files):
    alice, admin, svc = node.session(ALICE), node.session(ADMIN), node.session(service)
    uploaded = _create(alice)["id"]
    alice.upload(uploaded, files["tiny"][1])
    r = svc.get(f"/v2/images/{uploaded}/locations")
    assert r.status_code == 200, r.text
    assert r.json() == [{"url": f"tessera://fast/{uploaded}", "metadata": {"store": "fast"}}]
    assert admin.get(f"/v2/images/{uploaded}/locations").status_code == 200
    r = alice.get(f"/v2/images/{uploaded}/locations")
    assert r.status_code == 403, r.text
    assert node.session(BOB).get(f"/v2/images/{uploaded}/locations").status_code == 404
    # The service role may add a location too (Glance's service_api).
    image_id = _create(alice)["id"]
    assert _add(svc, image_id, f"{origin}/image?svc").status_code == 202
    img, task = _settle(alice, image_id)
    assert task["status"] == "success" and img["status"] == "active", (task, img)
    assert svc.get(f"/v2/images/{image_id}/locations").json() == \
        [{"url": f"{origin}/image?svc", "metadata": {"store": "web"}}]
    # A service caller naming a URL no store reads: 400, nothing changed.
    other = _create(alice)["id"]
    r = _add(svc, other, "gopher://info.cern.ch/x")
    assert r.status_code == 400 and "gopher" in r.text
    assert alice.show(other)["status"] == "queued"
    for i in (uploaded, image_id, other):
        alice.delete(f"/v2/images/{i}")


def test_the_version_document_lists_2_17(node):
    versions = node.session(ALICE).get("/versions").json()["versions"]
    assert "v2.17" in [v["id"] for v in versions]
