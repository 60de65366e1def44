"""Per-project unified limits read from a real Keystone (`[limits] use_keystone_limits`):
Glance's four resources, its 413s, `GET /v2/info/usage`, and the last slot raced for from
two nodes of one cluster, of which exactly one may win.

The limits belong to a service and endpoint this module registers for itself and removes
afterwards, so nothing else using the shared Keystone (Tempest's quota tests check for
registered `image_count_total`) sees them.
"""
from __future__ import annotations

import json
import subprocess
import tempfile
import threading
import uuid
from pathlib import Path

import pytest
import requests

from conftest import KS, Node, password_token, tessera_bin

MiB = 1024 * 1024
RESOURCES = ("image_size_total", "image_stage_total", "image_count_total",
             "image_count_uploading")


class Limits:
    """A service + endpoint of its own, registered limits for it, and project limits."""

    def __init__(self, identities):
        self.h = {"X-Auth-Token": self._system_token()}
        self.project = identities.project["tessA"]
        name = f"tessera-limits-{uuid.uuid4().hex[:8]}"
        self.service = self._post("services", {"name": name, "type": name})["id"]
        self.endpoint = self._post("endpoints", {
            "service_id": self.service, "interface": "public", "region_id": "RegionOne",
            "url": "http://127.0.0.1:9/never-called"})["id"]
        self.registered = [self._post("registered_limits", [{
            "service_id": self.service, "region_id": "RegionOne", "resource_name": r,
            "default_limit": 1000}])[0]["id"] for r in RESOURCES]
        self.ids: dict[str, str] = {}

    @staticmethod
    def _system_token() -> str:
        auth = {"identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"id": "default"}, "password": "secretadmin"}}},
            "scope": {"system": {"all": True}}}
        r = requests.post(f"{KS}/auth/tokens", json={"auth": auth}, timeout=30)
        r.raise_for_status()
        return r.headers["X-Subject-Token"]

    def _post(self, kind: str, body):
        one = kind if isinstance(body, list) else kind[:-1]
        r = requests.post(f"{KS}/{kind}", json={one: body}, headers=self.h, timeout=30)
        assert r.status_code == 201, r.text
        return r.json()[one]

    def set(self, resource: str, value: int) -> None:
        if value == 0 and resource in self.ids:
            # Keystone 30 answers 200 to a PATCH to 0 but keeps the old value: replace it.
            requests.delete(f"{KS}/limits/{self.ids.pop(resource)}", headers=self.h,
                            timeout=30)
        if resource in self.ids:
            r = requests.patch(f"{KS}/limits/{self.ids[resource]}",
                               json={"limit": {"resource_limit": value}}, headers=self.h,
                               timeout=30)
            assert r.status_code == 200, r.text
        else:
            self.ids[resource] = self._post("limits", [{
                "service_id": self.service, "project_id": self.project,
                "region_id": "RegionOne", "resource_name": resource,
                "resource_limit": value}])[0]["id"]

    def remove(self) -> None:
        for path in ([f"limits/{i}" for i in self.ids.values()]
                     + [f"registered_limits/{i}" for i in self.registered]
                     + [f"endpoints/{self.endpoint}", f"services/{self.service}"]):
            requests.delete(f"{KS}/{path}", headers=self.h, timeout=30)

    def config(self) -> str:
        return f'[limits]\nuse_keystone_limits = true\nendpoint_id = "{self.endpoint}"\n'


@pytest.fixture(scope="module")
def limits(identities):
    lim = Limits(identities)
    yield lim
    lim.remove()


@pytest.fixture(scope="module")
def limited(limits):
    n = Node(config=limits.config())
    yield n
    n.stop()


def create(url: str, token: str, name: str = "lim") -> requests.Response:
    return requests.post(f"{url}/v2/images", headers={"X-Auth-Token": token}, timeout=30,
                         json={"name": name, "disk_format": "raw", "container_format": "bare"})


def upload(url: str, token: str, image: str, size: int) -> requests.Response:
    return requests.put(f"{url}/v2/images/{image}/file", data=b"x" * size, timeout=60,
                        headers={"X-Auth-Token": token,
                                 "Content-Type": "application/octet-stream"})


def delete_all(url: str, token: str) -> None:
    h = {"X-Auth-Token": token}
    for img in requests.get(f"{url}/v2/images", headers=h, timeout=30).json()["images"]:
        requests.delete(f"{url}/v2/images/{img['id']}", headers=h, timeout=30)


def usage(url: str, token: str) -> dict:
    r = requests.get(f"{url}/v2/info/usage", headers={"X-Auth-Token": token}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["usage"]


def test_count_total_is_enforced_and_freed_by_delete(limited, limits, identities):
    alice, bob = identities.token("alice"), identities.token("bob")
    delete_all(limited.url, alice)
    limits.set("image_count_total", 1)
    first = create(limited.url, alice)
    assert first.status_code == 201, first.text
    over = create(limited.url, alice)
    assert over.status_code == 413, over.text
    assert ("Resource image_count_total is over limit of 1 due to current usage 1 and delta 1"
            in over.text)
    # Another project is not limited by tessA's limit (its registered default is 1000).
    assert create(limited.url, bob).status_code == 201
    limits.set("image_count_total", 2)
    assert create(limited.url, alice).status_code == 201
    assert create(limited.url, alice).status_code == 413
    requests.delete(f"{limited.url}/v2/images/{first.json()['id']}",
                    headers={"X-Auth-Token": alice}, timeout=30)
    assert create(limited.url, alice).status_code == 201
    u = usage(limited.url, alice)
    assert u["image_count_total"] == {"limit": 2, "usage": 2}
    assert set(u) == set(RESOURCES)
    delete_all(limited.url, alice)
    delete_all(limited.url, bob)
    limits.set("image_count_total", 10)


def test_size_total_and_uploading_as_glance_counts_them(limited, limits, identities):
    alice = identities.token("alice")
    delete_all(limited.url, alice)
    limits.set("image_size_total", 1)
    limits.set("image_count_uploading", 10)
    ids = [create(limited.url, alice, f"s{i}").json()["id"] for i in range(4)]
    # Glance knows no size before the upload, so it asks for nothing more than being under
    # the limit: the second 1 MiB upload passes and leaves the project over it.
    assert upload(limited.url, alice, ids[0], MiB).status_code == 204
    assert upload(limited.url, alice, ids[1], MiB).status_code == 204
    r = upload(limited.url, alice, ids[2], MiB)
    assert r.status_code == 413, r.text
    assert "image_size_total is over limit of 1 due to current usage 2" in r.text
    # Refused before any byte is taken: the image is still queued and uploadable.
    h = {"X-Auth-Token": alice}
    assert requests.get(f"{limited.url}/v2/images/{ids[2]}", headers=h,
                        timeout=30).json()["status"] == "queued"
    assert usage(limited.url, alice)["image_size_total"] == {"limit": 1, "usage": 2}
    limits.set("image_size_total", 10)
    # An uploading limit of 0 refuses every upload: the upload itself counts.
    limits.set("image_count_uploading", 0)
    r = upload(limited.url, alice, ids[2], MiB)
    assert r.status_code == 413 and "image_count_uploading" in r.text, r.text
    limits.set("image_count_uploading", 1)
    assert upload(limited.url, alice, ids[2], MiB).status_code == 204
    assert usage(limited.url, alice)["image_count_uploading"] == {"limit": 1, "usage": 0}
    delete_all(limited.url, alice)


def test_usage_is_empty_without_limits(node, identities):
    r = requests.get(f"{node.url}/v2/info/usage",
                     headers={"X-Auth-Token": identities.token("alice")}, timeout=30)
    assert r.status_code == 200 and r.json() == {"usage": {}}
    assert requests.get(f"{node.url}/v2/info/usage", timeout=30).status_code == 401


@pytest.fixture(scope="module")
def two_nodes(limits):
    """Two nodes of one cluster (testbed, loopback) in Keystone mode with the limits on."""
    work = Path(tempfile.mkdtemp(prefix="tessera-ks-cluster-"))
    cfg = work / "node.toml"
    cfg.write_text(f"""[auth]
mode = "keystone"
auth_url = "{KS}"
username = "glance"
password = "secretglance"
project_name = "service"
{limits.config()}""")
    testbed = tessera_bin().with_name("testbed")
    up = subprocess.run([str(testbed), "up", "--dir", str(work / "c"), "--nodes", "2",
                         "--no-netns", "--binary", str(tessera_bin()),
                         f"--serve-arg=--config={cfg}"],
                        capture_output=True, text=True, timeout=300)
    assert up.returncode == 0, up.stderr
    nodes = json.loads(up.stdout)["nodes"]
    yield ["http://" + n["api"] for n in nodes]
    subprocess.run([str(testbed), "down", "--dir", str(work / "c")], capture_output=True,
                   timeout=120)


def test_two_nodes_racing_for_the_last_slots_never_pass_the_limit(two_nodes, limits,
                                                                    identities):
    alice = identities.token("alice")
    # Each node validates the token once before the race: the race is for limits, and a
    # dozen first validations at once can outlast a loaded Keystone's answer.
    for url in two_nodes:
        delete_all(url, alice)
    assert create(two_nodes[0], alice, "existing").status_code == 201
    limits.set("image_count_total", 4)
    results: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(12)

    def racer(i: int):
        start.wait()
        code = create(two_nodes[i % 2], alice, f"race{i}").status_code
        with lock:
            results.append(code)

    threads = [threading.Thread(target=racer, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [201] * 3 + [413] * 9, results
    for url in two_nodes:
        assert usage(url, alice)["image_count_total"] == {"limit": 4, "usage": 4}
    delete_all(two_nodes[0], alice)
    limits.set("image_count_total", 10)


def stage(url: str, token: str, image: str, size: int) -> requests.Response:
    return requests.put(f"{url}/v2/images/{image}/stage", data=b"s" * size, timeout=60,
                        headers={"X-Auth-Token": token,
                                 "Content-Type": "application/octet-stream"})


def test_a_staged_image_holds_an_upload_slot_as_in_tempest(limited, limits, identities):
    alice = identities.token("alice")
    delete_all(limited.url, alice)
    for r, v in (("image_stage_total", 10), ("image_size_total", 10),
                 ("image_count_total", 10), ("image_count_uploading", 1)):
        limits.set(r, v)
    first, second, third = (create(limited.url, alice, n).json()["id"]
                            for n in ("first", "second", "third"))
    assert stage(limited.url, alice, first, MiB).status_code == 204
    # The staged image holds the one upload slot: neither a stage nor an upload may start.
    r = stage(limited.url, alice, second, MiB)
    assert r.status_code == 413 and "image_count_uploading" in r.text, r.text
    assert upload(limited.url, alice, third, MiB).status_code == 413
    limits.set("image_count_uploading", 2)
    assert upload(limited.url, alice, third, MiB).status_code == 204
    assert stage(limited.url, alice, second, MiB).status_code == 204
    u = usage(limited.url, alice)
    assert u["image_count_uploading"]["usage"] == 2 and u["image_stage_total"]["usage"] == 2
    limits.set("image_stage_total", 1)
    r = stage(limited.url, alice, create(limited.url, alice, "fourth").json()["id"], MiB)
    assert r.status_code == 413 and "image_stage_total" in r.text, r.text
    delete_all(limited.url, alice)
    limits.set("image_stage_total", 10)
