"""Glance's legacy task API (`POST /v2/tasks`, type `import`) with `glance task-create`,
`task-show`, `task-list` and plain HTTP: admin-only, the URL checked at creation as
Glance 33 checks it (scheme, then `[import_filtering_opts]`), the task creating its image,
fetching it and activating it; a failed task deletes the image it made.
"""
import hashlib
import http.server
import json
import threading
import time

import pytest

from conftest import ADMIN, ALICE, KEYSTONE, Server, parse_show, random_image_bytes

DATA = random_image_bytes(1024 * 1024 + 5, seed=31)


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path == "/image":
            self.send_response(200)
            self.send_header("Content-Length", str(len(DATA)))
            self.end_headers()
            self.wfile.write(DATA)
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
    cfg = tmp_path_factory.mktemp("legacy") / "node.toml"
    cfg.write_text('[import_filtering_opts]\nallowed_hosts = ["127.0.0.1"]\nallowed_ports = []\n')
    node = Server(None, ("--config", str(cfg)))
    node.start()
    yield node
    node.stop()


def _input(uri, disk_format="raw", **extra):
    props = {"name": "legacy-task", "disk_format": disk_format, "container_format": "bare",
             "visibility": "private", **extra}
    return {"import_from": uri, "import_from_format": disk_format, "image_properties": props}


def _wait(api, task_id, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = api.get(f"/v2/tasks/{task_id}").json()
        if task["status"] in ("success", "failure"):
            return task
        time.sleep(0.2)
    raise AssertionError(f"task {task_id} did not finish")


def test_glance_task_create_imports_an_image(open_node, origin):
    out = open_node.glance("task-create", "--type", "import", "--input",
                           json.dumps(_input(f"{origin}/image", hw_disk_bus="scsi")),
                           token=ADMIN)
    created = parse_show(out.stdout)
    assert created["status"] in ("pending", "processing", "success"), created
    api = open_node.session(ADMIN)
    task = _wait(api, created["id"])
    assert task["status"] == "success", task
    shown = parse_show(open_node.glance("task-show", created["id"], token=ADMIN).stdout)
    assert shown["status"] == "success"
    image_id = task["result"]["image_id"]
    img = api.show(image_id)
    assert (img["status"], img["name"], img["disk_format"]) == ("active", "legacy-task", "raw")
    assert img["hw_disk_bus"] == "scsi" and img["visibility"] == "private"
    assert img["size"] == len(DATA) and img["virtual_size"] == len(DATA)
    assert img["checksum"] == hashlib.md5(DATA).hexdigest()
    assert api.get(f"/v2/images/{image_id}/file").content == DATA
    listed = open_node.glance("task-list", "--type", "import", token=ADMIN).stdout
    assert created["id"] in listed


def test_http_create_answers_as_glance(open_node, origin):
    api = open_node.session(ADMIN)
    r = api.post("/v2/tasks", json={"type": "import", "input": _input(f"{origin}/image")})
    assert r.status_code == 201, r.text
    body = r.json()
    assert r.headers["Location"] == f"/v2/tasks/{body['id']}"
    assert body["type"] == "import" and body["status"] in ("pending", "processing")
    assert body["input"]["import_from"] == f"{origin}/image"
    assert body["schema"] == "/v2/schemas/task" and body["result"] is None
    assert _wait(api, body["id"])["status"] == "success"


@pytest.mark.parametrize("body,status,text", [
    ({"input": {}}, 400, "Task 'type' is required"),
    ({"type": "import"}, 400, "Task 'input' is required"),
    ({"type": "nope", "input": {}}, 400, "Provided object does not match schema 'task'"),
    ({"type": "import", "input": {}, "x": 1}, 400, "Provided object does not match schema"),
    ({"type": "import", "input": {"import_from": "file:///etc/passwd"}}, 400,
     "File based imports are not allowed"),
    ({"type": "import", "input": {"import_from": "ftp://example.com/x"}}, 400,
     "The given uri is not valid"),
    ({"type": "import", "input": {}}, 400, "Invalid location: None"),
    ({"type": "import", "input": {"import_from": "http://127.0.0.1/x"}}, 400,
     "URI for legacy import task does not pass filtering: http://127.0.0.1/x"),
    ({"type": "import", "input": {"import_from": "http://no-such-host.invalid/x.qcow2"}}, 400,
     "URI for legacy import task does not pass filtering"),
])
def test_bad_task_bodies_are_400_and_make_nothing(admin, body, status, text):
    before = len(admin.get("/v2/tasks?limit=1000").json()["tasks"])
    r = admin.post("/v2/tasks", json=body)
    assert r.status_code == status, r.text
    assert text in r.text, r.text
    assert len(admin.get("/v2/tasks?limit=1000").json()["tasks"]) == before


def test_non_admins_may_not_create_tasks(alice, origin):
    r = alice.post("/v2/tasks", json={"type": "import", "input": _input(f"{origin}/image")})
    assert r.status_code == 403, r.text


@pytest.mark.parametrize("path,disk_format,message", [
    ("/missing", "raw", "HTTP 404"),
    ("/image", "qcow2", "Image disk_format qcow2 does not match stream data raw"),
])
def test_a_failed_task_deletes_the_image_it_made(open_node, origin, path, disk_format, message):
    api = open_node.session(ADMIN)
    before = {i["id"] for i in api.list_all()}
    r = api.post("/v2/tasks", json={"type": "import",
                                    "input": _input(origin + path, disk_format)})
    assert r.status_code == 201, r.text
    task = _wait(api, r.json()["id"])
    assert task["status"] == "failure" and message in task["message"], task
    assert task["result"] is None
    assert {i["id"] for i in api.list_all()} == before


def test_an_incomplete_input_fails_the_task(open_node, origin):
    api = open_node.session(ADMIN)
    r = api.post("/v2/tasks", json={"type": "import",
                                    "input": {"import_from": f"{origin}/image"}})
    assert r.status_code == 201, r.text
    task = _wait(api, r.json()["id"])
    assert (task["status"], task["message"]) == (
        "failure", "Input does not contain 'import_from_format' field")
