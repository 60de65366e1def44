"""Imports on a 3-node cluster: staged on one node and imported through another, and a node
killed while it runs a web-download task: another node takes the task over (or fails it with
a message); the image ends active with the right bytes or queued and importable again,
never half-written and never finished twice to different ends.
"""
import hashlib
import http.server
import os
import threading
import time

import pytest
import requests

from conftest import ADMIN, Cluster

DATA = os.urandom(4 * 1024 * 1024)
SLOW_BLOCK = 64 * 1024
SLOW_PAUSE = 0.15  # about 10 s for the whole file


class Slow(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(DATA)))
        self.end_headers()
        try:
            for i in range(0, len(DATA), SLOW_BLOCK):
                self.wfile.write(DATA[i:i + SLOW_BLOCK])
                time.sleep(SLOW_PAUSE)
        except OSError:
            pass  # the downloading node died


def _host_side(api_addr: str) -> str:
    """The address the nodes reach this test process at (the bridge's, in namespaces)."""
    ip = api_addr.rsplit(":", 1)[0]
    return ip.rsplit(".", 1)[0] + ".1" if ip.startswith("10.77.") else "127.0.0.1"


@pytest.fixture(scope="module")
def origin():
    httpd = http.server.ThreadingHTTPServer(("0.0.0.0", 0), Slow)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd.server_address[1]
    httpd.shutdown()


@pytest.fixture(scope="module")
def import_cluster(tmp_path_factory):
    cfg = tmp_path_factory.mktemp("import") / "node.toml"
    # Any host on any port: the nodes fetch from this test process (test-only allow-list).
    cfg.write_text('[import_filtering_opts]\nallowed_hosts = ["127.0.0.1", '
                   + ", ".join(f'"10.77.{k}.1"' for k in range(256))
                   + ']\nallowed_ports = []\n')
    c = Cluster(3, [f"--config={cfg}", "--task-lease=3s"])
    try:
        yield c
    finally:
        c.down()


def _task(api, image_id):
    tasks = api.s.get(f"{api.url}/v2/images/{image_id}/tasks", timeout=30).json()["tasks"]
    return tasks[-1] if tasks else None


def _settle(cluster, image_id, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for n in cluster.nodes:
            try:
                api = cluster.session(n["name"])
                t = _task(api, image_id)
                if t and t["status"] in ("success", "failure"):
                    return api.show(image_id), t
                break
            except requests.RequestException:
                continue
        time.sleep(0.5)
    raise AssertionError(f"import of {image_id} did not finish")


def test_stage_on_one_node_import_on_another(import_cluster):
    c = import_cluster
    n1, n2, n3 = (c.session(n["name"]) for n in c.nodes)
    img = n1.create(name="staged-here")
    data = os.urandom(3 * 1024 * 1024 + 5)
    r = n1.s.put(f"{n1.url}/v2/images/{img['id']}/stage", data=data,
                 headers={"Content-Type": "application/octet-stream"}, timeout=120)
    assert r.status_code == 204, r.text
    r = n2.s.post(f"{n2.url}/v2/images/{img['id']}/import",
                  json={"method": {"name": "glance-direct"}}, timeout=60)
    assert r.status_code == 202, r.text
    shown, task = _settle(c, img["id"])
    assert task["status"] == "success", task
    assert shown["checksum"] == hashlib.md5(data).hexdigest()
    assert n3.download(img["id"]) == data


def _runner(cluster):
    """The node whose task executor runs a task now."""
    for n in cluster.nodes:
        r = requests.get(cluster.url(n["name"]) + "/tessera/v1/workers/tasks",
                         headers={"X-Auth-Token": ADMIN}, timeout=10)
        if r.ok and r.json().get("queue_len", 0) > 0:
            return n["name"]
    return None


def test_a_node_killed_mid_import_leaves_the_image_importable(import_cluster, origin):
    c = import_cluster
    first = c.nodes[0]["name"]
    api = c.session(first)
    uri = f"http://{_host_side(c.nodes[0]['api'])}:{origin}/image"
    img = api.create(name="killed-mid-import")
    r = api.s.post(f"{api.url}/v2/images/{img['id']}/import",
                   json={"method": {"name": "web-download", "uri": uri}}, timeout=60)
    assert r.status_code == 202, r.text

    deadline = time.monotonic() + 30
    victim = None
    while victim is None and time.monotonic() < deadline:
        victim = _runner(c)
        time.sleep(0.2)
    assert victim, "no node ran the task"
    time.sleep(2)  # mid-download
    c.run("kill", victim, "--signal", "KILL")
    try:
        survivor = next(n["name"] for n in c.nodes if n["name"] != victim)
        shown, task = _settle(c, img["id"])
        api = c.session(survivor)
        if task["status"] == "success":
            # Taken over: the new node fetched the whole file again.
            assert shown["status"] == "active"
            assert api.download(img["id"]) == DATA
        else:
            assert task["message"], task
            assert shown["status"] == "queued"
            assert "os_glance_import_task" not in shown
            r = api.s.post(f"{api.url}/v2/images/{img['id']}/import",
                           json={"method": {"name": "web-download", "uri": uri}}, timeout=60)
            assert r.status_code == 202, r.text
            shown, task = _settle(c, img["id"])
            assert task["status"] == "success" and api.download(img["id"]) == DATA
        # One task, finished once.
        tasks = api.s.get(f"{api.url}/v2/images/{img['id']}/tasks", timeout=30).json()["tasks"]
        assert [t["status"] for t in tasks][-1] == "success"
    finally:
        c.run("start", victim)
