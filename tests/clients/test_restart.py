"""Durability across restarts of a self-started node (skipped against an external server)."""
import hashlib
import signal

import pytest

from conftest import ALICE, random_image_bytes, MiB


@pytest.fixture
def own_node(server):
    if server.external:
        pytest.skip("needs a self-started node (TESSERA_URL is set)")
    return server


def _check_all(server, images):
    api = server.session(ALICE)
    listed = {i["id"]: i for i in api.list_all()}
    for iid, data in images.items():
        assert iid in listed, f"{iid} missing from the list after restart"
        img = listed[iid]
        assert img["status"] == "active"
        assert img["size"] == len(data)
        assert img["checksum"] == hashlib.md5(data).hexdigest()
        assert img["os_hash_value"] == hashlib.sha512(data).hexdigest()
        r = api.get(f"/v2/images/{iid}/file")
        assert r.status_code == 200, (r.status_code, r.text[:300])
        assert r.content == data


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_images_survive_restart(own_node, cleanup, run_id, sig):
    api = own_node.session(ALICE)
    images = {}
    for i, size in enumerate((2 * MiB + 7, 5 * MiB + 1)):
        data = random_image_bytes(size)
        img = api.create(name=f"{run_id}-restart-{sig.name}-{i}", disk_format="raw",
                         container_format="bare")
        cleanup.append(img["id"])
        api.upload(img["id"], data)
        images[img["id"]] = data
    _check_all(own_node, images)

    own_node.restart(sig)
    _check_all(own_node, images)

    # and again with the other signal: state written before the first restart survives too
    own_node.restart(signal.SIGKILL if sig == signal.SIGTERM else signal.SIGTERM)
    _check_all(own_node, images)


def test_queued_image_and_metadata_survive_sigkill(own_node, cleanup, run_id):
    api = own_node.session(ALICE)
    img = api.create(name=f"{run_id}-restart-meta", disk_format="qcow2",
                     container_format="bare", tags=["a", "b"], distro="debian")
    cleanup.append(img["id"])
    own_node.restart(signal.SIGKILL)
    after = api.show(img["id"])
    assert after["status"] == "queued"
    assert after["name"] == img["name"] and after["distro"] == "debian"
    assert sorted(after["tags"]) == ["a", "b"]
