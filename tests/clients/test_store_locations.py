"""Locations a client adds in the node's file, swift and s3 stores (the locations API, 2.17,
and the legacy `PATCH` add with `show_multiple_locations`), as Glance 33 takes them: the store
is the one whose URL prefix the location has (a Swift store's auth address, `user:key` and
container; an S3 store's keys, endpoint and bucket); only the `service` role may add one
through the locations API; `file://` and `swift+config://` locations are refused from
clients (Glance's `RESTRICTED_URI_SCHEMAS`). The swift and s3 stores run against a real Swift
all-in-one (../shared/peer/swift/saio.sh: tempauth and s3api) under /tmp/tessera-swift.lock,
as test_object_stores.py does; objects are put there with the Swift API, added as locations,
read back through the image API and, as Glance does, deleted with the image.
"""
import fcntl
import hashlib
import subprocess
import time
from pathlib import Path

import pytest
import requests

from conftest import ADMIN, ALICE, KEYSTONE, Server, random_image_bytes

DATA = random_image_bytes(3 * 1024 * 1024 + 11, seed=41)
MD5 = hashlib.md5(DATA).hexdigest()
SHA512 = hashlib.sha512(DATA).hexdigest()
SAIO = Path(__file__).resolve().parents[3] / "shared/peer/swift/saio.sh"
PROXY = "http://127.0.0.1:18080"
SERVICE = "svc:projA:member,reader,service"
# The stores' credentials, quoted as glance_store quotes them in its locations.
SWIFT_PREFIX = "swift+http://test%3Atester:testing@127.0.0.1:18080/auth/v1.0"
S3_PREFIX = "s3+http://test%3Atester:testing@127.0.0.1:18080"


@pytest.fixture(scope="module")
def node(tmp_path_factory, server):
    """A noauth node with stores fast (cluster, default), files (file), swift and s3, and
    `show_multiple_locations`."""
    if server.external or KEYSTONE:
        pytest.skip("needs a self-started noauth node with its own configuration")
    tmp = tmp_path_factory.mktemp("store-locations")
    cfg = tmp / "node.toml"
    cfg.write_text(f"""
[api]
show_multiple_locations = true

[stores]
default = "fast"

[[stores.store]]
id = "fast"
driver = "cluster"

[[stores.store]]
id = "files"
driver = "file"
path = "{tmp / 'files'}"

[[stores.store]]
id = "swift"
driver = "swift"
auth_address = "{PROXY}/auth/v1.0"
user = "test:tester"
key = "testing"
container = "glance"
create_container_on_put = true

[[stores.store]]
id = "s3"
driver = "s3"
endpoint = "{PROXY}"
access_key = "test:tester"
secret_key = "testing"
bucket = "tessera"
create_bucket_on_put = true
""")
    n = Server(None, ("--config", str(cfg)))
    n.start()
    n.files_dir = (tmp / "files").resolve()
    yield n
    n.stop()


def _saio(action: str):
    subprocess.run(["bash", str(SAIO), action], check=True, timeout=300,
                   stdout=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def swift():
    """A running SAIO holding the shared Swift lock (stopped at the end): a function putting
    an object with the Swift API, and one telling whether an object is there."""
    if not SAIO.exists():
        pytest.skip(f"no {SAIO}: Swift cannot be started here")
    with open("/tmp/tessera-swift.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            try:
                _saio("start")
            except (subprocess.SubprocessError, OSError) as e:
                pytest.skip(f"Swift all-in-one did not start: {e}")
            r = requests.get(f"{PROXY}/auth/v1.0",
                             headers={"X-Auth-User": "test:tester", "X-Auth-Key": "testing"})
            r.raise_for_status()
            account, token = r.headers["X-Storage-Url"], {"X-Auth-Token": r.headers["X-Auth-Token"]}

            def put(container: str, name: str, data: bytes):
                requests.put(f"{account}/{container}", headers=token).raise_for_status()
                r = requests.put(f"{account}/{container}/{name}", data=data, headers=token)
                assert r.status_code == 201, r.text

            def exists(container: str, name: str) -> bool:
                return requests.head(f"{account}/{container}/{name}",
                                     headers=token).status_code == 200

            yield put, exists
        finally:
            _saio("stop")


def _create(api, name="store-loc"):
    return api.create(name=name, disk_format="raw", container_format="bare")["id"]


def _add(api, image_id, url, validation=None):
    body = {"url": url}
    if validation is not None:
        body["validation_data"] = validation
    return api.post(f"/v2/images/{image_id}/locations", json=body)


def _legacy_add(api, image_id, url):
    return api.patch(f"/v2/images/{image_id}", [{"op": "add", "path": "/locations/-",
                                                "value": {"url": url, "metadata": {}}}])


def _settle(api, image_id, timeout=60):
    """The image once its last task finished, and that task."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tasks = api.get(f"/v2/images/{image_id}/tasks").json()["tasks"]
        if tasks and tasks[-1]["status"] in ("success", "failure"):
            return api.show(image_id), tasks[-1]
        time.sleep(0.2)
    raise AssertionError(f"location task of {image_id} did not finish: {api.show(image_id)}")


def _download(api, image_id):
    r = api.get(f"/v2/images/{image_id}/file")
    assert r.status_code == 200, r.text
    assert hashlib.md5(r.content).hexdigest() == MD5
    return r.headers.get("x-image-meta-store")


def _unchanged(api, image_id, before):
    after = api.show(image_id)
    drop = ("updated_at",)
    assert {k: v for k, v in after.items() if k not in drop} == \
        {k: v for k, v in before.items() if k not in drop}


def test_file_locations_are_refused_as_glance_refuses_them(node):
    """A file in the file store's directory cannot be added: Glance's
    `validate_external_location` refuses `file://` from clients (a file URL reads whatever
    the node may, other images' files included)."""
    alice, svc = node.session(ALICE), node.session(SERVICE)
    placed = node.files_dir / "placed-by-operator"
    placed.write_bytes(DATA)
    url = f"file://{placed}"
    image_id = _create(alice)
    before = alice.show(image_id)
    # Without the service role: Glance's 403 of a non-http location.
    r = _add(alice, image_id, url)
    assert r.status_code == 403 and "http store must be enabled" in r.text, r.text
    # With it, and on the legacy path: 400, no task, nothing changed.
    r = _add(svc, image_id, url)
    assert r.status_code == 400 and "Invalid location" in r.text, r.text
    r = _legacy_add(alice, image_id, url)
    assert r.status_code == 400 and "Invalid location" in r.text, r.text
    assert alice.get(f"/v2/images/{image_id}/tasks").json()["tasks"] == []
    _unchanged(alice, image_id, before)
    assert placed.read_bytes() == DATA
    alice.delete(f"/v2/images/{image_id}")
    assert placed.read_bytes() == DATA


def test_a_swift_object_becomes_an_image_and_goes_with_it(node, swift):
    put, exists = swift
    alice, svc = node.session(ALICE), node.session(SERVICE)
    put("glance", "from-swift", DATA)
    url = f"{SWIFT_PREFIX}/glance/from-swift"
    image_id = _create(alice)
    # Only the service role may add a location outside an http store.
    assert _add(alice, image_id, url).status_code == 403
    r = _add(svc, image_id, url, {"os_hash_algo": "sha512", "os_hash_value": SHA512})
    assert r.status_code == 202, r.text
    img, task = _settle(alice, image_id)
    assert task["status"] == "success", task
    assert (img["status"], img["size"], img["checksum"]) == ("active", len(DATA), MD5)
    assert (img["os_hash_algo"], img["os_hash_value"]) == ("sha512", SHA512)
    assert img["stores"] == "swift"
    assert img["locations"] == [{"url": url, "metadata": {"store": "swift"}}]
    assert _download(alice, image_id) == "swift"
    assert svc.get(f"/v2/images/{image_id}/locations").json() == \
        [{"url": url, "metadata": {"store": "swift"}}]
    # Glance deletes a location's data with the image, whoever added the location.
    assert alice.delete(f"/v2/images/{image_id}").status_code == 204
    assert not exists("glance", "from-swift")


def test_an_s3_object_is_added_by_either_api(node, swift):
    put, exists = swift
    alice, svc = node.session(ALICE), node.session(SERVICE)
    put("tessera", "from-s3", DATA)
    url = f"{S3_PREFIX}/tessera/from-s3"
    image_id = _create(alice)
    assert _add(svc, image_id, url).status_code == 202
    img, task = _settle(alice, image_id)
    assert task["status"] == "success", task
    assert (img["status"], img["size"], img["stores"]) == ("active", len(DATA), "s3")
    assert _download(alice, image_id) == "s3"
    # The digests are computed after the image is active (no validation_data).
    deadline = time.monotonic() + 30
    while alice.show(image_id)["os_hash_value"] is None:
        assert time.monotonic() < deadline, alice.show(image_id)
        time.sleep(0.2)
    assert (alice.show(image_id)["checksum"], alice.show(image_id)["os_hash_value"]) == \
        (MD5, SHA512)
    # The legacy add of the same object to another queued image: sized by the s3 store.
    put("tessera", "from-s3-legacy", DATA)
    legacy_url = f"{S3_PREFIX}/tessera/from-s3-legacy"
    other = _create(alice, "legacy")
    r = _legacy_add(alice, other, legacy_url)
    assert r.status_code == 200, r.text
    shown = alice.show(other)
    assert (shown["status"], shown["size"], shown["stores"]) == ("active", len(DATA), "s3")
    assert _download(alice, other) == "s3"
    for i in (image_id, other):
        assert alice.delete(f"/v2/images/{i}").status_code == 204
    assert not exists("tessera", "from-s3") and not exists("tessera", "from-s3-legacy")


def test_bad_locations_are_refused_and_change_nothing(node, swift):
    put, exists = swift
    alice, svc = node.session(ALICE), node.session(SERVICE)
    put("glance", "kept", DATA)
    put("other", "kept", DATA)
    image_id = _create(alice)
    before = alice.show(image_id)
    # In a store's scheme but outside its prefix (another container, key, bucket or
    # endpoint; no credentials), or Glance's restricted swift+config: 400, no task.
    for url in [
        f"{SWIFT_PREFIX}/other/kept",
        "swift+http://test%3Atester:wrong@127.0.0.1:18080/auth/v1.0/glance/kept",
        "swift+http://127.0.0.1:18080/auth/v1.0/glance/kept",
        f"{S3_PREFIX}/other/kept",
        "s3+http://test%3Atester:testing@127.0.0.2:18080/tessera/kept",
        "swift+config://ref1/glance/kept",
        f"tessera://fast/{image_id}",
    ]:
        r = _add(svc, image_id, url)
        assert r.status_code == 400 and "Invalid location" in r.text, (url, r.text)
        r = _legacy_add(alice, image_id, url)
        assert r.status_code == 400 and "Invalid location" in r.text, (url, r.text)
    assert alice.get(f"/v2/images/{image_id}/tasks").json()["tasks"] == []
    # A missing object (Swift's 404): the task fails, the image is as it was.
    missing = f"{SWIFT_PREFIX}/glance/missing"
    assert _add(svc, image_id, missing).status_code == 202
    img, task = _settle(alice, image_id)
    assert task["status"] == "failure" and "not found" in task["message"], task
    assert "testing@" not in task["message"], task
    _unchanged(alice, image_id, before)
    r = _legacy_add(alice, image_id, missing)
    assert r.status_code == 400 and "not found" in r.text, r.text
    _unchanged(alice, image_id, before)
    assert exists("glance", "kept") and exists("other", "kept")
    alice.delete(f"/v2/images/{image_id}")


def test_a_hash_mismatch_drops_the_location_and_its_data_as_glance_does(node, swift):
    """Glance's revert pops a non-http location it had added before the digests disagreed,
    and popping a location deletes its data (`StoreLocations.pop`)."""
    put, exists = swift
    alice, svc = node.session(ALICE), node.session(SERVICE)
    put("glance", "mismatch", DATA)
    image_id = _create(alice)
    r = _add(svc, image_id, f"{SWIFT_PREFIX}/glance/mismatch",
             {"os_hash_algo": "sha512", "os_hash_value": "beefdead" * 16})
    assert r.status_code == 202, r.text
    img, task = _settle(alice, image_id)
    assert task["status"] == "failure" and "not matched" in task["message"], task
    assert img["status"] == "queued" and "stores" not in img and img["locations"] == []
    assert (img["checksum"], img["os_hash_value"]) == (None, None)
    assert not exists("glance", "mismatch")
    alice.delete(f"/v2/images/{image_id}")


def test_a_store_that_is_down_fails_the_add_and_changes_nothing(node, swift):
    """Last in the module: it stops the Swift all-in-one (the fixture's stop is idempotent)."""
    alice, svc = node.session(ALICE), node.session(SERVICE)
    image_id = _create(alice)
    before = alice.show(image_id)
    _saio("stop")
    r = _add(svc, image_id, f"{S3_PREFIX}/tessera/anything")
    assert r.status_code == 202, r.text
    img, task = _settle(alice, image_id)
    assert task["status"] == "failure" and "unavailable" in task["message"], task
    _unchanged(alice, image_id, before)
    r = _legacy_add(alice, image_id, f"{SWIFT_PREFIX}/glance/anything")
    assert r.status_code == 400 and "Invalid location" in r.text, r.text
    _unchanged(alice, image_id, before)
    node.session(ADMIN).delete(f"/v2/images/{image_id}")
