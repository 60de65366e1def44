"""Metadefs against the real Glance: a three-node Tessera cluster (tests/cluster's helpers)
and Glance 33 from ../shared/peer (installed by its install.sh on first use, started here on
a free port with a private data folder, stopped at the end).

Both get Glance's 32 shipped metadef files: Glance's `glance-manage db_load_metadefs` at
start, Tessera's `tessera metadefs load`. The files stay in the peer's venv; nothing of them
is copied into the repository.
"""
from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]


def _cluster_helpers():
    """tests/cluster's conftest, under a name of its own (pytest already has a `conftest`)."""
    spec = importlib.util.spec_from_file_location(
        "tessera_cluster_helpers", REPO / "tests" / "cluster" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_helpers = _cluster_helpers()
ADMIN, Cluster, _bin = _helpers.ADMIN, _helpers.Cluster, _helpers._bin

PEER = REPO.parent / "shared" / "peer"
PEER_DIR = Path(os.environ.get("PEER_DIR", "/tmp/tessera-peer"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One API endpoint (Glance, or one node of the cluster) with a token per caller."""

    def __init__(self, urls: list[str]):
        self.urls = urls
        self.calls = 0

    def url(self) -> str:
        # Round-robin over the cluster's nodes: every node must answer alike.
        self.calls += 1
        return self.urls[self.calls % len(self.urls)]

    def request(self, method: str, path: str, token: str = ADMIN, **kw) -> requests.Response:
        headers = {"X-Auth-Token": token, **kw.pop("headers", {})}
        return requests.request(method, self.url() + path, headers=headers, timeout=60, **kw)

    def get(self, path: str, token: str = ADMIN) -> dict:
        r = self.request("GET", path, token)
        assert r.status_code == 200, f"{path}: {r.status_code} {r.text[:300]}"
        return r.json()


@pytest.fixture(scope="session")
def metadef_dir() -> Path:
    if not (PEER / "install.sh").exists():
        pytest.fail(f"{PEER}/install.sh is missing: the metadef tests need ../shared/peer")
    subprocess.run(["bash", str(PEER / "install.sh")], check=True, timeout=1800,
                   stdout=subprocess.DEVNULL)
    d = PEER_DIR / "venv" / "etc" / "glance" / "metadefs"
    assert len(list(d.glob("*.json"))) >= 30, d
    return d


@pytest.fixture(scope="session")
def glance(metadef_dir) -> Server:
    private = Path(tempfile.mkdtemp(prefix="tessera-md-peer-"))
    (private / "venv").symlink_to(PEER_DIR / "venv")
    env = {**os.environ, "PEER_DIR": str(private), "PORT": str(_free_port())}
    subprocess.run(["bash", str(PEER / "glance-start.sh")], env=env, check=True, timeout=600,
                   stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{env['PORT']}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if requests.get(url + "/versions", timeout=5).status_code in (200, 300):
                break
        except requests.RequestException:
            pass
        time.sleep(0.5)
    try:
        yield Server([url])
    finally:
        subprocess.run(["bash", str(PEER / "glance-stop.sh")], env=env, timeout=120,
                       stdout=subprocess.DEVNULL)
        subprocess.run(["rm", "-rf", str(private)], check=False)


@pytest.fixture(scope="session")
def cluster():
    c = Cluster(3, [])
    try:
        yield c
    finally:
        c.down()


def tessera_cli(*args: str, url: str) -> str:
    out = subprocess.run([str(_bin("tessera")), "metadefs", *args, "--url", url,
                          "--token", ADMIN], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.fixture(scope="session")
def tessera(cluster, metadef_dir) -> Server:
    """The cluster with Glance's files loaded (through one node)."""
    urls = [cluster.url(n["name"]) for n in cluster.nodes]
    tessera_cli("load", str(metadef_dir), url=urls[0])
    return Server(urls)
