"""The disk-format inspector on every byte that comes in, with real images made by
`qemu-img` (Debian's qemu-utils) and malicious ones built here: what Glance refuses (415 on
upload, a failed import task) is refused, nothing is stored, the image stays retryable.
"""
import shutil
import subprocess
import time

import pytest

from conftest import parse_show

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    if not shutil.which("qemu-img"):
        pytest.fail("qemu-img is needed (apt-get install qemu-utils)")
    d = tmp_path_factory.mktemp("formats")

    def make(*args):
        subprocess.run(["qemu-img", "create", "-q", *args], cwd=d, check=True)

    make("-f", "qcow2", "good.qcow2", "16M")
    make("-f", "qcow2", "-b", "good.qcow2", "-F", "qcow2", "backing.qcow2")
    make("-f", "qcow2", "-o", "data_file=external.raw", "datafile.qcow2", "16M")
    make("-f", "vmdk", "-o", "subformat=monolithicFlat", "flat.vmdk", "16M")
    make("-f", "vmdk", "sparse.vmdk", "16M")
    # By hand: the sparse vmdk's descriptor names an extent outside the image.
    sparse = (d / "sparse.vmdk").read_bytes()
    assert b'"sparse.vmdk"' in sparse
    (d / "outside.vmdk").write_bytes(sparse.replace(b'"sparse.vmdk"', b'"/etc/passwd"'))
    make("-f", "vdi", "disk.vdi", "16M")
    make("-f", "vhdx", "disk.vhdx", "16M")
    make("-f", "qed", "disk.qed", "16M")
    # By hand: a raw disk with a DOS partition table, and one whose first entry's boot flag
    # is neither 0x00 nor 0x80 (Glance's MBR check).
    disk = bytearray(4 * MiB)
    disk[446], disk[446 + 4] = 0x80, 0x83
    disk[510:512] = b"\x55\xaa"
    (d / "mbr.raw").write_bytes(bytes(disk))
    disk[446] = 0x33
    (d / "badmbr.raw").write_bytes(bytes(disk))
    return d


def _create(api, disk_format):
    return api.create(name=f"inspect-{disk_format}", disk_format=disk_format,
                      container_format="bare")["id"]


def _upload(api, image_id, path):
    return api.put(f"/v2/images/{image_id}/file", data=path.read_bytes(),
                   headers={"Content-Type": "application/octet-stream"})


def test_real_images_pass_with_their_virtual_size(server, images, cleanup, alice):
    out = server.glance("image-create", "--disk-format", "qcow2", "--container-format", "bare",
                        "--name", "inspect-good", "--file", str(images / "good.qcow2"))
    img = parse_show(out.stdout)
    cleanup.append(img["id"])
    shown = alice.show(img["id"])
    assert (shown["status"], shown["virtual_size"]) == ("active", 16 * MiB)
    image_id = _create(alice, "vmdk")
    cleanup.append(image_id)
    assert _upload(alice, image_id, images / "sparse.vmdk").status_code == 204
    assert alice.show(image_id)["virtual_size"] == 16 * MiB


@pytest.mark.parametrize("name,disk_format,virtual_size", [
    ("disk.vdi", "vdi", 16 * MiB),
    ("disk.vhdx", "vhdx", 16 * MiB),
    ("mbr.raw", "raw", 4 * MiB),
])
def test_vdi_vhdx_and_partitioned_disks_pass_with_their_size(images, cleanup, alice, name,
                                                              disk_format, virtual_size):
    image_id = _create(alice, disk_format)
    cleanup.append(image_id)
    r = _upload(alice, image_id, images / name)
    assert r.status_code == 204, r.text
    img = alice.show(image_id)
    assert (img["status"], img["virtual_size"]) == ("active", virtual_size)


@pytest.mark.parametrize("name,disk_format,reason", [
    ("disk.qed", "raw", "Image failed safety checks"),
    ("badmbr.raw", "raw", "Image failed safety checks"),
    ("disk.vhdx", "vdi", "Image disk_format vdi does not match stream data vhdx"),
    ("backing.qcow2", "qcow2", "Image failed safety checks"),
    ("backing.qcow2", "raw", "Image failed safety checks"),
    ("datafile.qcow2", "qcow2", "Image failed safety checks"),
    ("flat.vmdk", "vmdk", "Image failed safety checks"),
    ("outside.vmdk", "vmdk", "Image failed safety checks"),
    ("good.qcow2", "vmdk", "Image disk_format vmdk does not match stream data qcow2"),
    ("good.qcow2", "iso", "Image disk_format iso does not match stream data qcow2"),
])
def test_malicious_or_mismatched_uploads_are_refused(images, cleanup, alice, name,
                                                     disk_format, reason):
    image_id = _create(alice, disk_format)
    cleanup.append(image_id)
    r = _upload(alice, image_id, images / name)
    assert r.status_code == 415, r.text
    assert reason in r.text
    img = alice.show(image_id)
    assert (img["status"], img["size"], img["checksum"]) == ("queued", None, None)


def test_a_malicious_staged_image_fails_its_import(images, cleanup, alice):
    image_id = _create(alice, "qcow2")
    cleanup.append(image_id)
    r = alice.put(f"/v2/images/{image_id}/stage", data=(images / "backing.qcow2").read_bytes(),
                  headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 204
    r = alice.post(f"/v2/images/{image_id}/import", json={"method": {"name": "glance-direct"}})
    assert r.status_code == 202
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        tasks = alice.get(f"/v2/images/{image_id}/tasks").json()["tasks"]
        if tasks and tasks[-1]["status"] == "failure":
            break
        time.sleep(0.2)
    assert tasks[-1]["message"] == "Image failed safety checks"
    img = alice.show(image_id)
    assert img["status"] == "queued" and img["os_glance_failed_import"] == "tessera"
    # The same image takes good data afterwards.
    assert _upload(alice, image_id, images / "good.qcow2").status_code == 204
    assert alice.show(image_id)["status"] == "active"
