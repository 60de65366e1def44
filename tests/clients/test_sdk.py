"""openstacksdk, Keystone-less (admin_token auth plugin + image endpoint override)."""
import hashlib

from conftest import ALICE


def test_sdk_create_download_list_delete(server, files, tmp_path, cleanup, run_id, alice):
    path, data = files["big"]
    conn = server.sdk(ALICE)
    name = f"{run_id}-sdk"
    img = conn.image.create_image(name=name, filename=str(path), disk_format="raw",
                                  container_format="bare", validate_checksum=True, wait=True)
    cleanup.append(img.id)
    img = conn.image.get_image(img.id)
    assert img.status == "active"
    assert img.name == name
    assert img.checksum == hashlib.md5(data).hexdigest()
    assert img.hash_algo == "sha512"
    assert img.hash_value == hashlib.sha512(data).hexdigest()
    assert img.size == len(data)

    # streaming download to a file, then in memory
    out = tmp_path / "sdk.out"
    conn.image.download_image(img, output=str(out))
    assert out.read_bytes() == data
    resp = conn.image.download_image(img)
    got = resp.body if hasattr(resp, "body") else getattr(resp, "content", resp)
    assert bytes(got) == data

    ids = [i.id for i in conn.image.images()]
    assert img.id in ids
    found = conn.image.find_image(name)
    assert found is not None and found.id == img.id

    conn.image.delete_image(img, ignore_missing=False)
    assert alice.get(f"/v2/images/{img.id}").status_code == 404
    assert conn.image.find_image(name) is None


def test_cloud_layer_create_image(server, files, cleanup, run_id, alice):
    """The cloud layer (`conn.create_image`) as Ansible/Heat-style tools call it."""
    path, data = files["small"]
    conn = server.sdk(ALICE)
    name = f"{run_id}-sdk-cloud"
    img = conn.create_image(name, filename=str(path), disk_format="raw",
                            container_format="bare", validate_checksum=True, wait=True,
                            meta={"owner_tool": "sdk"})
    cleanup.append(img.id)
    body = alice.show(img.id)
    assert body["status"] == "active"
    assert body["os_hash_value"] == hashlib.sha512(data).hexdigest()
    assert body.get("owner_tool") == "sdk"
    assert conn.delete_image(img.id, wait=True)
    assert alice.get(f"/v2/images/{img.id}").status_code == 404
