"""Keystone misbehaving, through a fault-injecting proxy in front of the real Keystone: a
Keystone that answers too slowly or answers garbage makes uncached tokens 503 (never 401:
nothing is known about them) while cached tokens keep working; and the token of a project
deleted in Keystone is refused."""
from __future__ import annotations

import http.server
import socketserver
import threading
import time
import urllib.error
import urllib.request

import pytest
import requests

from conftest import KS, Node, password_token


class FaultyKeystone:
    """A loopback HTTP proxy to the real Keystone; `mode` is "pass", "slow" or "garbage"."""

    def __init__(self):
        self.mode = "pass"
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _relay(self, method: str):
                if proxy.mode == "slow":
                    time.sleep(12)  # the node's http_timeout is 5 s
                if proxy.mode == "garbage" and method == "GET":
                    body = b"\x00not json{"
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                length = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(length) if length else None
                url = KS.rsplit("/v3", 1)[0] + self.path
                req = urllib.request.Request(url, data=data, method=method)
                for k, v in self.headers.items():
                    if k.lower() not in ("host", "content-length", "connection"):
                        req.add_header(k, v)
                try:
                    resp = urllib.request.urlopen(req, timeout=30)
                except urllib.error.HTTPError as e:
                    resp = e
                body = resp.read()
                self.send_response(resp.status if hasattr(resp, "status") else resp.code)
                for k, v in resp.headers.items():
                    if k.lower() not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                self._relay("GET")

            def do_POST(self):
                self._relay("POST")

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v3"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


@pytest.fixture(scope="module")
def faulty(identities):
    proxy = FaultyKeystone()
    # [auth] http_timeout: a Keystone slower than this is treated as down.
    node = Node(auth_url=proxy.url, config='http_timeout = "5s"')
    yield proxy, node
    node.stop()
    proxy.close()


def get(node, token):
    return requests.get(f"{node.url}/v2/images", headers={"X-Auth-Token": token}, timeout=30)


@pytest.mark.parametrize("mode", ["slow", "garbage"])
def test_a_slow_or_garbled_keystone_spares_cached_tokens_only(faulty, identities, mode):
    proxy, node = faulty
    cached = identities.token("alice")
    proxy.mode = "pass"
    assert get(node, cached).status_code == 200
    unseen = password_token("bob", "secretbob", "tessB")
    proxy.mode = mode
    try:
        assert get(node, cached).status_code == 200
        r = get(node, unseen)
        assert r.status_code == 503, (mode, r.status_code, r.text)
    finally:
        proxy.mode = "pass"
    # Nothing bad was remembered about the token: it works once Keystone answers again.
    assert get(node, unseen).status_code == 200


def test_the_token_of_a_deleted_project_is_refused(node, identities):
    a = identities.admin_api
    pid = a.ensure("projects", {"name": "tess-doomed", "domain_id": "default"})
    uid = a.ensure("users", {"name": "doomed", "domain_id": "default",
                             "password": "secretdoomed"})
    a.grant(pid, uid, "member")
    token = password_token("doomed", "secretdoomed", "tess-doomed")
    r = requests.delete(f"{KS}/projects/{pid}", headers=a.h, timeout=30)
    assert r.status_code == 204, r.text
    assert get(node, token).status_code == 401
