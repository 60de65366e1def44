"""web-download: the default URL rules refuse internal addresses; a node whose operator
allows the loopback host (as `[import_filtering_opts]` would) fetches from a local HTTP
server, follows redirects (each one checked), and fails cleanly on a redirect loop, a
redirect to a refused address, a missing file and a body that never ends (the size cap).
"""
import hashlib
import http.server
import os
import threading
import time

import pytest

from conftest import ALICE, KEYSTONE, Server, parse_show, random_image_bytes

DATA = random_image_bytes(3 * 1024 * 1024 + 17, seed=13)
CAP = 8 * 1024 * 1024


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _redirect(self, to):
        self.send_response(302)
        self.send_header("Location", to)
        self.end_headers()

    def do_GET(self):
        if self.path == "/image":
            self.send_response(200)
            self.send_header("Content-Length", str(len(DATA)))
            self.end_headers()
            self.wfile.write(DATA)
        elif self.path == "/redirect":
            self._redirect("/image")
        elif self.path == "/loop":
            self._redirect("/loop")
        elif self.path == "/metadata":
            self._redirect("http://169.254.169.254/latest/meta-data/")
        elif self.path == "/forever":
            self.send_response(200)
            self.end_headers()
            block = b"\0" * 65536
            try:
                for _ in range(10 * CAP // len(block)):
                    self.wfile.write(block)
            except OSError:
                pass  # the importer hung up at its size cap
        else:
            self.send_error(404)


@pytest.fixture(scope="module")
def origin():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def open_node(tmp_path_factory, server):
    """A node that allows the loopback host on any port (test-only allow-list)."""
    if server.external or KEYSTONE:
        pytest.skip("needs a self-started noauth node with its own configuration")
    cfg = tmp_path_factory.mktemp("webdl") / "node.toml"
    cfg.write_text('[import_filtering_opts]\nallowed_hosts = ["127.0.0.1"]\nallowed_ports = []\n')
    node = Server(None, ("--config", str(cfg), "--image-size-cap", str(CAP)))
    node.start()
    yield node
    node.stop()


def _import(api, uri):
    img = api.create(name="webdl", disk_format="raw", container_format="bare")
    r = api.post(f"/v2/images/{img['id']}/import",
                 json={"method": {"name": "web-download", "uri": uri}})
    return img["id"], r


def _settle(api, image_id, timeout=60):
    """The image once its import task finished, and the task."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tasks = api.get(f"/v2/images/{image_id}/tasks").json()["tasks"]
        if tasks and tasks[-1]["status"] in ("success", "failure"):
            return api.show(image_id), tasks[-1]
        time.sleep(0.2)
    raise AssertionError(f"import of {image_id} did not finish: {api.show(image_id)}")


def test_defaults_refuse_loopback_private_and_metadata_addresses(alice, cleanup, origin):
    info = alice.get("/v2/info/import").json()["import-methods"]["value"]
    assert info == ["glance-direct", "web-download"]
    for uri in (f"{origin}/image", "http://127.0.0.1/image", "http://localhost/x",
                "http://10.0.0.1/x", "http://192.168.0.1/x", "http://169.254.169.254/x",
                "http://[::1]/x", "ftp://example.com/x", None):
        image_id, r = _import(alice, uri)
        cleanup.append(image_id)
        assert r.status_code == 400, (uri, r.text)
        assert f"URI for web-download does not pass filtering: {uri}" in r.text
        img = alice.show(image_id)
        assert img["status"] == "queued" and "os_glance_import_task" not in img


def test_glance_cli_web_download(open_node, origin):
    out = open_node.glance("image-create-via-import", "--disk-format", "raw",
                           "--container-format", "bare", "--name", "webdl-cli",
                           "--import-method", "web-download", "--uri", f"{origin}/redirect")
    image_id = parse_show(out.stdout)["id"]
    img, task = _settle(open_node.session(ALICE), image_id)
    assert task["status"] == "success", task
    assert img["status"] == "active"
    assert img["checksum"] == hashlib.md5(DATA).hexdigest()
    assert img["os_hash_value"] == hashlib.sha512(DATA).hexdigest()
    assert task["input"]["import_req"]["method"]["uri"] == f"{origin}/redirect"


def test_sdk_web_download(open_node, origin):
    conn = open_node.sdk(ALICE)
    img = conn.image.create_image(name="webdl-sdk", disk_format="raw", container_format="bare")
    conn.image.import_image(img, method="web-download", uri=f"{origin}/image")
    img = conn.image.wait_for_status(img, status="active", failures=["killed"], wait=60)
    assert img.size == len(DATA)


@pytest.mark.parametrize("path,reason", [
    ("/loop", "Too many redirects"),
    ("/metadata", "Redirect to disallowed URL: http://169.254.169.254/latest/meta-data/"),
    ("/missing", "HTTP 404"),
    ("/forever", "size cap"),
])
def test_failed_downloads_leave_a_queued_retryable_image(open_node, origin, path, reason):
    api = open_node.session(ALICE)
    image_id, r = _import(api, origin + path)
    assert r.status_code == 202, r.text
    img, task = _settle(api, image_id)
    assert task["status"] == "failure" and reason in task["message"], task
    assert img["status"] == "queued"
    assert img["os_glance_failed_import"] == "tessera"
    assert "os_glance_import_task" not in img and img["checksum"] is None
    # Retryable: the same image imports once the URL is good.
    r = api.post(f"/v2/images/{image_id}/import",
                 json={"method": {"name": "web-download", "uri": f"{origin}/image"}})
    assert r.status_code == 202, r.text
    img, task = _settle(api, image_id)
    assert img["status"] == "active", task
