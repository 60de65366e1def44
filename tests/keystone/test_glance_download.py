"""The `glance-download` import method against a real Keystone: a second single-node Tessera
in Keystone mode is registered as the image service of a region of its own in Keystone's
catalog; images uploaded there are imported into the first node with the caller's token
and catalog (raw HTTP, the glance CLI and openstacksdk), and Glance's failures are checked:
the 400s of the request, an unknown region, a remote image that is not active.

The region, service and endpoint are this module's own and removed afterwards, so nothing
else using the shared Keystone sees them.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests

from conftest import KS, Admin, Node

MiB = 1024 * 1024
VENV_BIN = Path(sys.executable).parent
# What the importing node allows: the remote node is on loopback, on a port of its own.
METHODS = 'enabled_import_methods = ["glance-direct", "web-download", "glance-download"]'
FILTER = """
[import_filtering_opts]
allowed_hosts = ["127.0.0.1"]
allowed_ports = []
"""


class RemoteRegion:
    """A region whose image endpoint (public and internal) is the remote node."""

    def __init__(self, url: str):
        self.admin = Admin()
        self.name = f"TesseraRemote-{uuid.uuid4().hex[:8]}"
        self._post("regions", {"id": self.name})
        self.service = self._post("services", {"name": f"tessera-{self.name}",
                                               "type": "image"})["id"]
        self.endpoints = [self._post("endpoints", {
            "service_id": self.service, "interface": iface, "region_id": self.name,
            "url": url})["id"] for iface in ("public", "internal")]

    def _post(self, kind: str, body: dict) -> dict:
        r = requests.post(f"{KS}/{kind}", json={kind[:-1]: body}, headers=self.admin.h,
                          timeout=30)
        assert r.status_code == 201, r.text
        return r.json()[kind[:-1]]

    def remove(self) -> None:
        for path in ([f"endpoints/{e}" for e in self.endpoints]
                     + [f"services/{self.service}", f"regions/{self.name}"]):
            requests.delete(f"{KS}/{path}", headers=self.admin.h, timeout=30)


@pytest.fixture(scope="module")
def remote(identities):
    n = Node()
    yield n
    n.stop()


@pytest.fixture(scope="module")
def region(remote):
    r = RemoteRegion(remote.url)
    yield r
    r.remove()


@pytest.fixture(scope="module")
def importer(identities, region):
    n = Node(top=METHODS, config=FILTER)
    yield n
    n.stop()


def call(node, method, path, token, **kw):
    headers = kw.pop("headers", {})
    headers["X-Auth-Token"] = token
    return requests.request(method, node.url + path, headers=headers, timeout=60, **kw)


def patch(node, token, image, ops):
    r = call(node, "PATCH", f"/v2/images/{image}", token, json=ops,
             headers={"Content-Type": "application/openstack-images-v2.1-json-patch"})
    assert r.status_code == 200, r.text
    return r.json()


def create(node, token, **fields):
    body = {"name": "gd", "disk_format": "raw", "container_format": "bare", **fields}
    r = call(node, "POST", "/v2/images", token, json=body)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def source(remote, token, data: bytes, **props) -> str:
    """An active image on the remote node holding `data`, with `props`."""
    image = create(remote, token, **props)
    r = call(remote, "PUT", f"/v2/images/{image}/file", token, data=data,
             headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 204, r.text
    return image


def start(importer, token, image, **method):
    body = {"method": {"name": "glance-download", **method}}
    return call(importer, "POST", f"/v2/images/{image}/import", token, json=body)


def final_task(node, token, image, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        r = call(node, "GET", f"/v2/images/{image}/tasks", token)
        assert r.status_code == 200, r.text
        tasks = r.json()["tasks"]
        if tasks and tasks[0]["status"] in ("success", "failure"):
            return tasks[0]
        time.sleep(0.3)
    raise AssertionError(f"no final task for {image}: {tasks}")


def show(node, token, image):
    r = call(node, "GET", f"/v2/images/{image}", token)
    assert r.status_code == 200, r.text
    return r.json()


def test_info_lists_the_method(importer, remote, identities):
    alice = identities.token("alice")
    methods = call(importer, "GET", "/v2/info/import", alice).json()
    assert "glance-download" in methods["import-methods"]["value"]
    # Glance's default list leaves it out.
    methods = call(remote, "GET", "/v2/info/import", alice).json()
    assert "glance-download" not in methods["import-methods"]["value"]


def test_a_remote_image_is_copied_with_its_formats_and_properties(importer, remote, region,
                                                                   identities):
    alice = identities.token("alice")
    data = os.urandom(3 * MiB + 77)
    src = source(remote, alice, data, hw_cpu_cores="5", os_distro="rhel", speed="88mph",
                 **{"trait:STORAGE_DISK_SSD": "required"})
    src_image = show(remote, alice, src)
    dst = create(importer, alice, disk_format="iso", container_format="ovf",
                 hw_cpu_cores="1", os_distro="windows")
    r = start(importer, alice, dst, glance_region=region.name, glance_image_id=src)
    assert r.status_code == 202, r.text
    task = final_task(importer, alice, dst)
    assert task["status"] == "success", task
    assert task["result"] == {"image_id": dst}
    assert task["input"]["import_req"]["method"] == {
        "name": "glance-download", "glance_region": region.name, "glance_image_id": src,
        "glance_service_interface": "public"}
    # The caller's token is lent to the task, never shown.
    assert alice not in str(call(importer, "GET", f"/v2/tasks/{task['id']}", alice).text)
    img = show(importer, alice, dst)
    assert img["status"] == "active"
    assert (img["disk_format"], img["container_format"]) == ("raw", "bare")
    assert img["size"] == len(data)
    assert img["checksum"] == hashlib.md5(data).hexdigest() == src_image["checksum"]
    assert img["os_hash_value"] == hashlib.sha512(data).hexdigest()
    assert (img["hw_cpu_cores"], img["os_distro"], img["trait:STORAGE_DISK_SSD"]) == (
        "5", "rhel", "required")
    assert "speed" not in img
    got = call(importer, "GET", f"/v2/images/{dst}/file", alice)
    assert got.status_code == 200 and got.content == data


def test_glances_400s_for_a_bad_request(importer, region, identities):
    alice = identities.token("alice")
    dst = create(importer, alice)
    src = str(uuid.uuid4())
    cases = [
        ({"glance_image_id": src}, "'glance_region' needs to be set"),
        ({"glance_region": region.name}, "'glance_image_id' needs to be set"),
        ({"glance_region": region.name, "glance_image_id": "foo"},
         "Remote image id does not look like a UUID: foo"),
    ]
    for method, message in cases:
        r = start(importer, alice, dst, **method)
        assert r.status_code == 400, r.text
        assert message in r.text
    # Nothing changed: no task, no lock, still queued.
    assert call(importer, "GET", f"/v2/images/{dst}/tasks", alice).json()["tasks"] == []
    img = show(importer, alice, dst)
    assert img["status"] == "queued" and "os_glance_import_task" not in img


def test_an_unknown_region_fails_the_task_and_leaves_the_image_as_it_was(importer,
                                                                          identities):
    alice = identities.token("alice")
    dst = create(importer, alice, disk_format="iso", container_format="ovf",
                 hw_cpu_cores="1")
    r = start(importer, alice, dst, glance_region="not a region",
              glance_image_id=str(uuid.uuid4()), glance_service_interface="not an interface")
    assert r.status_code == 202, r.text
    task = final_task(importer, alice, dst)
    assert task["status"] == "failure"
    assert task["message"] == "not an interface glance endpoint not found for region not a region"
    img = show(importer, alice, dst)
    assert img["status"] == "queued"
    assert (img["disk_format"], img["container_format"], img["hw_cpu_cores"]) == (
        "iso", "ovf", "1")
    assert "os_glance_import_task" not in img


def test_a_remote_image_that_is_not_active_or_missing_fails_the_task(importer, remote, region,
                                                                      identities):
    alice = identities.token("alice")
    queued = create(remote, alice)
    dst = create(importer, alice)
    assert start(importer, alice, dst, glance_region=region.name,
                 glance_image_id=queued).status_code == 202
    task = final_task(importer, alice, dst)
    assert task["message"] == "Source image status should be active instead of queued"
    assert show(importer, alice, dst)["status"] == "queued"
    # Another project's private image is not found there with this caller's token.
    bob = identities.token("bob")
    hidden = source(remote, bob, b"b" * 1000)
    assert start(importer, alice, dst, glance_region=region.name,
                 glance_image_id=hidden).status_code == 202
    deadline = time.time() + 60
    while time.time() < deadline:
        tasks = call(importer, "GET", f"/v2/images/{dst}/tasks", alice).json()["tasks"]
        if len(tasks) == 2 and all(t["status"] == "failure" for t in tasks):
            break
        time.sleep(0.3)
    messages = sorted(t["message"] for t in tasks)
    assert any("HTTP 404" in m for m in messages), messages
    img = show(importer, alice, dst)
    assert img["status"] == "queued" and img["size"] is None


def cli_env(user: str, project: str) -> dict:
    env = dict(os.environ)
    env.update({"OS_AUTH_URL": KS, "OS_USERNAME": user, "OS_PASSWORD": f"secret{user}",
                "OS_PROJECT_NAME": project, "OS_USER_DOMAIN_ID": "default",
                "OS_PROJECT_DOMAIN_ID": "default", "OS_IDENTITY_API_VERSION": "3"})
    return env


def test_the_glance_cli_and_openstacksdk_import_from_the_remote_region(importer, remote,
                                                                       region, identities):
    alice = identities.token("alice")
    data = os.urandom(MiB + 3)
    src = source(remote, alice, data, os_type="linux")
    dst = create(importer, alice)
    out = subprocess.run(
        [str(VENV_BIN / "glance"), "--os-image-url", importer.url, "image-import", dst,
         "--import-method", "glance-download", "--remote-region", region.name,
         "--remote-image-id", src, "--remote-service-interface", "internal"],
        env=cli_env("alice", "tessA"), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    task = final_task(importer, alice, dst)
    assert task["status"] == "success", task
    assert task["input"]["import_req"]["method"]["glance_service_interface"] == "internal"
    img = show(importer, alice, dst)
    assert img["os_hash_value"] == hashlib.sha512(data).hexdigest()
    assert img["os_type"] == "linux"

    import openstack

    conn = openstack.connect(
        auth_url=KS, username="alice", password="secretalice", project_name="tessA",
        user_domain_id="default", project_domain_id="default", image_endpoint_override=importer.url)
    other = create(importer, alice)
    # The SDK sends the region and the image id only along with an interface.
    conn.image.import_image(conn.image.get_image(other), method="glance-download", remote_region=region.name,
                            remote_image_id=src, remote_service_interface="public")
    task = final_task(importer, alice, other)
    assert task["status"] == "success", task
    assert show(importer, alice, other)["checksum"] == hashlib.md5(data).hexdigest()


def test_the_import_filter_applies_to_the_remote_endpoint(remote, region, identities):
    """As Glance's validate_import_uri: the default rules refuse the loopback endpoint."""
    strict = Node(top=METHODS)
    try:
        alice = identities.token("alice")
        src = source(remote, alice, b"s" * 4096)
        dst = create(strict, alice)
        assert start(strict, alice, dst, glance_region=region.name,
                     glance_image_id=src).status_code == 202
        task = final_task(strict, alice, dst)
        assert task["message"] == ("Processed URI for glance-download does not pass "
                                   f"filtering: {remote.url}/v2/images/{src}/file")
        assert show(strict, alice, dst)["status"] == "queued"
    finally:
        strict.stop()
