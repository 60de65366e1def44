"""The `openstack image ...` CLI (python-openstackclient), Keystone-less."""
import hashlib
import json

import pytest

from conftest import ALICE


def _json(server, *args, token=ALICE):
    out = server.openstack(*args, "-f", "json", token=token).stdout
    return json.loads(out)


def test_openstack_image_lifecycle(server, files, tmp_path, cleanup, run_id, alice):
    path, data = files["big"]
    name = f"{run_id}-osc"
    img = _json(server, "image", "create", "--file", path, "--disk-format", "raw",
                "--container-format", "bare", name)
    cleanup.append(img["id"])
    assert img["name"] == name
    body = alice.show(img["id"])
    assert body["status"] == "active"
    assert body["checksum"] == hashlib.md5(data).hexdigest()
    assert body["os_hash_value"] == hashlib.sha512(data).hexdigest()
    assert body["size"] == len(data)

    listed = _json(server, "image", "list")
    assert any(i["ID"] == img["id"] and i["Name"] == name for i in listed)

    shown = _json(server, "image", "show", name)  # by name: GET /v2/images/NAME 404, ?name=
    assert shown["id"] == img["id"]
    assert shown["checksum"] == hashlib.md5(data).hexdigest()
    assert shown["disk_format"] == "raw" and shown["container_format"] == "bare"
    assert shown["status"] == "active"
    assert int(shown["size"]) == len(data)

    new_name = f"{run_id}-osc-renamed"
    server.openstack("image", "set", "--property", "flavor=tiny", "--tag", "osc-tag",
                     "--name", new_name, name)
    body = alice.show(img["id"])
    assert body["name"] == new_name
    assert body["flavor"] == "tiny"
    assert "osc-tag" in body["tags"]
    shown = _json(server, "image", "show", img["id"])
    assert shown["name"] == new_name

    out = tmp_path / "osc.out"
    server.openstack("image", "save", "--file", out, new_name)
    assert out.read_bytes() == data

    server.openstack("image", "delete", new_name)
    assert alice.get(f"/v2/images/{img['id']}").status_code == 404
    listed = _json(server, "image", "list")
    assert not any(i["ID"] == img["id"] for i in listed)
    r = server.openstack("image", "show", img["id"], check=False)
    assert r.returncode != 0


@pytest.mark.noauth  # no token at all: the default identity only noauth has
def test_openstack_with_version_discovery(server, files, cleanup, run_id, admin):
    """`--os-auth-type none` with the bare URL: osc discovers the API from GET / (300)."""
    path, data = files["tiny"]
    name = f"{run_id}-osc-disc"
    img = json.loads(server.openstack_noauth(
        "image", "create", "--file", path, "--disk-format", "raw", "--container-format",
        "bare", "--property", "via=discovery", name, "-f", "json").stdout)
    cleanup.append(img["id"])
    body = admin.show(img["id"])
    assert body["status"] == "active" and body["via"] == "discovery"
    assert body["os_hash_value"] == hashlib.sha512(data).hexdigest()
    listed = json.loads(server.openstack_noauth("image", "list", "-f", "json").stdout)
    assert any(i["ID"] == img["id"] for i in listed)
    server.openstack_noauth("image", "delete", img["id"])
    assert admin.get(f"/v2/images/{img['id']}").status_code == 404
