"""A real multi-node Tessera cluster for these tests, started with the `testbed` binary.

Each node runs in its own network namespace where the run is root with `ip netns` (CI),
otherwise on its own 127.0.0.x address. The cluster is torn down at the end of the session.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
ADMIN = "admin:adminproj:admin,member,reader"


def _bin(name: str) -> Path:
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    target = target if target.is_absolute() else REPO / target
    return target / "debug" / name


class Cluster:
    """Drives `testbed` and the nodes' HTTP APIs."""

    def __init__(self, n: int, serve_args: list[str], zones: list[str] | None = None):
        self.tmp = Path(tempfile.mkdtemp(prefix="tessera-cluster-"))
        self.dir = self.tmp / "cluster"
        self.testbed = _bin("testbed")
        args = [f"--serve-arg={a}" for a in serve_args]
        if zones:
            args.append("--zones=" + ",".join(zones))
        self.run("up", "--nodes", str(n), *args)

    def run(self, *args: str) -> str:
        out = subprocess.run([str(self.testbed), *args[:1], "--dir", str(self.dir), *args[1:]],
                             capture_output=True, text=True, timeout=300)
        if out.returncode != 0:
            raise RuntimeError(f"testbed {' '.join(args)} failed: {out.stderr}")
        return out.stdout

    @property
    def nodes(self) -> list[dict]:
        return json.loads((self.dir / "cluster.json").read_text())["nodes"]

    def url(self, name: str) -> str:
        node = next(n for n in self.nodes if n["name"] == name)
        return "http://" + node["api"]

    def session(self, name: str, token: str = ADMIN) -> "Api":
        return Api(self.url(name), token)

    def status(self, name: str) -> dict:
        r = requests.get(self.url(name) + "/tessera/v1/cluster",
                         headers={"X-Auth-Token": ADMIN}, timeout=30)
        r.raise_for_status()
        return r.json()

    def leader(self) -> str:
        """Name of the current leader, as the first answering node sees it."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for n in self.nodes:
                try:
                    lid = self.status(n["name"])["node"]["leader_id"]
                except (requests.RequestException, KeyError):
                    continue
                if lid is not None:
                    return f"n{lid}"
            time.sleep(0.2)
        raise AssertionError("no leader")

    def down(self):
        try:
            self.run("down")
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)


class Api:
    """A minimal Glance client over requests, bound to one node."""

    def __init__(self, url: str, token: str):
        self.url = url
        self.s = requests.Session()
        self.s.headers["X-Auth-Token"] = token

    def create(self, **body) -> dict:
        body.setdefault("disk_format", "raw")
        body.setdefault("container_format", "bare")
        r = self.s.post(self.url + "/v2/images", json=body, timeout=60)
        assert r.status_code == 201, r.text
        return r.json()

    def upload(self, image_id: str, data: bytes) -> requests.Response:
        return self.s.put(f"{self.url}/v2/images/{image_id}/file", data=data, timeout=300,
                          headers={"Content-Type": "application/octet-stream"})

    def download(self, image_id: str) -> bytes:
        r = self.s.get(f"{self.url}/v2/images/{image_id}/file", timeout=300)
        assert r.status_code == 200, r.text
        return r.content

    def show(self, image_id: str) -> dict:
        r = self.s.get(f"{self.url}/v2/images/{image_id}", timeout=60)
        assert r.status_code == 200, r.text
        return r.json()


@pytest.fixture(scope="module")
def cluster():
    # Small snapshot interval so a late joiner has to catch up from a snapshot.
    c = Cluster(3, ["--snapshot-logs=20"])
    try:
        yield c
    finally:
        c.down()
