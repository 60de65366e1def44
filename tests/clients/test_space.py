"""Free-space watermarks on one self-started node, with its metadata in a dir of its own: the
glance CLI's upload to a node whose chunk volume reports below its reserve fails with Glance's
413 for a full store and the image stays queued; below the metadata reserve a create is a 413
and a delete goes through. The volumes are faked with the test-only --unsafe-*-free-bytes."""
import pytest

from conftest import ALICE, KEYSTONE, Server, random_image_bytes


@pytest.fixture
def own_node(server, tmp_path):
    if server.external or KEYSTONE:
        pytest.skip("needs a self-started noauth node with its own settings")
    node = Server(None, ("--metadata-dir", str(tmp_path / "meta")))
    node.start()
    yield node
    node.stop()


def test_a_full_chunk_volume_refuses_uploads_and_a_full_metadata_volume_creates(
        own_node, tmp_path):
    api = own_node.session(ALICE)
    img = api.create(name="space-client", disk_format="raw", container_format="bare")
    # The metadata went to its own dir, not under the data dir.
    assert (tmp_path / "meta").is_dir() and not (own_node.data_dir / "meta").exists()

    own_node.args += ["--unsafe-free-bytes", "0"]
    own_node.restart()
    path = tmp_path / "image.raw"
    path.write_bytes(random_image_bytes(512 * 1024))
    out = own_node.glance("image-upload", "--file", str(path), img["id"], check=False)
    assert out.returncode != 0
    assert "413" in out.stdout + out.stderr
    assert "Image storage media is full" in out.stdout + out.stderr
    shown = api.show(img["id"])
    assert shown["status"] == "queued" and shown["size"] is None

    own_node.args = ["--metadata-dir", str(tmp_path / "meta"),
                     "--unsafe-metadata-free-bytes", "0"]
    own_node.restart()
    r = api.post("/v2/images", json={"name": "space-refused"})
    assert r.status_code == 413, r.text
    assert "Metadata storage is full" in r.text
    assert api.delete(f"/v2/images/{img['id']}").status_code == 204

    own_node.args = ["--metadata-dir", str(tmp_path / "meta")]
    own_node.restart()
    img = api.create(name="space-client-again", disk_format="raw", container_format="bare")
    api.upload(img["id"], path.read_bytes())
    assert api.show(img["id"])["status"] == "active"
