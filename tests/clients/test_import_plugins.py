"""Import plugins (`image_decompression`, `image_conversion` with qemu-img) and the import
settings (`enabled_import_methods`, `require_image_format_match`) on self-started nodes
configured as an operator would, driven by the `glance` CLI, openstacksdk and plain HTTP.
"""
import gzip
import hashlib
import io
import shutil
import subprocess
import time
import zipfile

import pytest

from conftest import ALICE, KEYSTONE, Server, parse_show, random_image_bytes

RAW = random_image_bytes(2 * 1024 * 1024, seed=21)


@pytest.fixture(scope="module")
def disks(tmp_path_factory):
    if not shutil.which("qemu-img"):
        pytest.fail("qemu-img is needed (apt-get install qemu-utils)")
    d = tmp_path_factory.mktemp("plugin-disks")
    (d / "disk.raw").write_bytes(RAW)
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", "disk.raw", "disk.qcow2"],
                   cwd=d, check=True)
    # By hand: an L1 table of garbage; the header still reads as a sound qcow2.
    bad = bytearray((d / "disk.qcow2").read_bytes())
    bad[0x30000:0x30010] = b"\xff" * 16
    (d / "corrupt.qcow2").write_bytes(bytes(bad))
    (d / "disk.raw.gz").write_bytes(gzip.compress(RAW, compresslevel=1))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(d / "disk.qcow2", "disk.qcow2")
    (d / "disk.qcow2.zip").write_bytes(buf.getvalue())
    return d


def _node(tmp_path_factory, name, text):
    cfg = tmp_path_factory.mktemp(name) / "node.toml"
    cfg.write_text(text)
    node = Server(None, ("--config", str(cfg)))
    node.start()
    return node


@pytest.fixture(scope="module")
def to_raw(server, tmp_path_factory):
    """A node converting every import to raw after unpacking archives."""
    if server.external or KEYSTONE:
        pytest.skip("needs a self-started noauth node with its own configuration")
    node = _node(tmp_path_factory, "to-raw",
                 '[image_import_opts]\n'
                 'image_import_plugins = ["image_decompression", "image_conversion"]\n'
                 '[image_conversion]\noutput_format = "raw"\n')
    yield node
    node.stop()


@pytest.fixture(scope="module")
def to_qcow2(server, tmp_path_factory):
    if server.external or KEYSTONE:
        pytest.skip("needs a self-started noauth node with its own configuration")
    node = _node(tmp_path_factory, "to-qcow2",
                 '[image_import_opts]\nimage_import_plugins = ["image_conversion"]\n'
                 '[image_conversion]\noutput_format = "qcow2"\n')
    yield node
    node.stop()


def _settle(api, image_id, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tasks = api.get(f"/v2/images/{image_id}/tasks").json()["tasks"]
        if tasks and tasks[-1]["status"] in ("success", "failure"):
            return api.show(image_id), tasks[-1]
        time.sleep(0.2)
    raise AssertionError(f"import of {image_id} did not finish: {api.show(image_id)}")


def _stage_import(api, path, disk_format, container_format="bare"):
    img = api.create(name=f"plugin-{path.name}", disk_format=disk_format,
                     container_format=container_format)
    r = api.put(f"/v2/images/{img['id']}/stage", data=path.read_bytes(),
                headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 204, r.text
    r = api.post(f"/v2/images/{img['id']}/import", json={"method": {"name": "glance-direct"}})
    assert r.status_code == 202, r.text
    return img["id"]


def _no_scratch(node):
    scratch = node.data_dir / "import-scratch"
    leftovers = list(scratch.rglob("*")) if scratch.exists() else []
    assert leftovers == [], leftovers


def test_glance_cli_import_of_a_qcow2_is_converted_to_raw(to_raw, disks):
    out = to_raw.glance("image-create-via-import", "--disk-format", "qcow2",
                        "--container-format", "bare", "--name", "convert-cli",
                        "--import-method", "glance-direct", "--file", disks / "disk.qcow2")
    image_id = parse_show(out.stdout)["id"]
    api = to_raw.session(ALICE)
    img, task = _settle(api, image_id)
    assert task["status"] == "success", task
    assert (img["status"], img["disk_format"], img["container_format"]) == ("active", "raw", "bare")
    assert img["size"] == len(RAW) and img["virtual_size"] == len(RAW)
    assert img["os_hash_value"] == hashlib.sha512(RAW).hexdigest()
    assert api.get(f"/v2/images/{image_id}/file").content == RAW
    _no_scratch(to_raw)


@pytest.mark.parametrize("name,disk_format", [("disk.raw.gz", "raw"), ("disk.qcow2.zip", "qcow2")])
def test_archives_are_unpacked_then_converted(to_raw, disks, name, disk_format):
    api = to_raw.session(ALICE)
    image_id = _stage_import(api, disks / name, disk_format)
    img, task = _settle(api, image_id)
    assert task["status"] == "success", task
    assert (img["disk_format"], img["size"]) == ("raw", len(RAW))
    assert img["checksum"] == hashlib.md5(RAW).hexdigest()
    _no_scratch(to_raw)


def test_a_corrupt_qcow2_fails_with_a_message_and_stays_importable(to_raw, disks):
    api = to_raw.session(ALICE)
    image_id = _stage_import(api, disks / "corrupt.qcow2", "qcow2")
    img, task = _settle(api, image_id)
    assert task["status"] == "failure", task
    assert "corrupt" in task["message"] or "error" in task["message"], task
    assert (img["status"], img["os_glance_failed_import"]) == ("queued", "tessera")
    assert "os_glance_import_task" not in img and img["checksum"] is None
    _no_scratch(to_raw)
    # Importable again with good data.
    r = api.put(f"/v2/images/{image_id}/stage", data=(disks / "disk.qcow2").read_bytes(),
                headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 204, r.text
    r = api.post(f"/v2/images/{image_id}/import", json={"method": {"name": "glance-direct"}})
    assert r.status_code == 202, r.text
    img, task = _settle(api, image_id)
    assert (task["status"], img["status"], img["disk_format"]) == ("success", "active", "raw")


def test_a_format_lie_fails_the_conversion(to_raw, disks):
    api = to_raw.session(ALICE)
    image_id = _stage_import(api, disks / "disk.raw", "qcow2")
    img, task = _settle(api, image_id)
    assert (task["status"], task["message"]) == ("failure", "Image format mismatch"), task
    assert img["status"] == "queued"


def test_sdk_import_converted_to_qcow2(to_qcow2, disks):
    conn = to_qcow2.sdk(ALICE)
    img = conn.create_image("convert-sdk", filename=str(disks / "disk.raw"), disk_format="raw",
                            container_format="bare", use_import=True)
    img = conn.image.wait_for_status(conn.image.get_image(img.id), status="active",
                                     failures=["killed"], wait=90)
    assert (img.status, img.disk_format, img.virtual_size) == ("active", "qcow2", len(RAW))
    data = to_qcow2.session(ALICE).get(f"/v2/images/{img.id}/file").content
    assert data.startswith(b"QFI\xfb") and len(data) == img.size
    _no_scratch(to_qcow2)


@pytest.fixture(scope="module")
def narrow(server, tmp_path_factory):
    """A node offering web-download only and merely logging format mismatches."""
    if server.external or KEYSTONE:
        pytest.skip("needs a self-started noauth node with its own configuration")
    node = _node(tmp_path_factory, "narrow",
                 'enabled_import_methods = ["web-download"]\n'
                 '[image_format]\nrequire_image_format_match = false\n')
    yield node
    node.stop()


def test_enabled_import_methods_rule_discovery_headers_and_requests(narrow):
    api = narrow.session(ALICE)
    assert api.get("/v2/info/import").json()["import-methods"]["value"] == ["web-download"]
    r = api.post("/v2/images", json={"name": "narrow", "disk_format": "raw",
                                     "container_format": "bare"})
    assert r.status_code == 201
    assert r.headers["OpenStack-image-import-methods"] == "web-download"
    image_id = r.json()["id"]
    r = api.put(f"/v2/images/{image_id}/stage", data=b"x",
                headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 404 and "'glance-direct' method is not available" in r.text
    r = api.post(f"/v2/images/{image_id}/import", json={"method": {"name": "glance-direct"}})
    assert r.status_code == 400 and "Unknown import method name 'glance-direct'." in r.text
    assert api.show(image_id)["status"] == "queued"


def test_without_require_image_format_match_a_mismatch_is_stored(narrow, disks):
    api = narrow.session(ALICE)
    img = api.create(name="lenient", disk_format="vmdk", container_format="bare")
    r = api.put(f"/v2/images/{img['id']}/file", data=(disks / "disk.qcow2").read_bytes(),
                headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 204, r.text
    shown = api.show(img["id"])
    assert (shown["status"], shown["virtual_size"]) == ("active", None)
