"""The `glance` CLI (python-glanceclient), end to end."""
import hashlib

from conftest import ADMIN, ALICE, BOB, PROJ_B, parse_list, parse_show


def _create(server, name, *extra, token=ALICE):
    out = server.glance("image-create", "--disk-format", "raw", "--container-format", "bare",
                        "--name", name, *extra, token=token).stdout
    img = parse_show(out)
    assert img.get("id"), out
    return img


def test_create_upload_download_show(server, files, tmp_path, cleanup, run_id, alice):
    path, data = files["big"]  # > 1 MiB: several chunks of glanceclient's chunked upload
    md5, sha512 = hashlib.md5(data).hexdigest(), hashlib.sha512(data).hexdigest()

    img = _create(server, f"{run_id}-gc-big", "--property", "distro=debian",
                  "--property", "build=42")
    cleanup.append(img["id"])
    assert img["status"] == "queued"
    assert img["name"] == f"{run_id}-gc-big"
    assert img["disk_format"] == "raw" and img["container_format"] == "bare"
    assert img["distro"] == "debian" and img["build"] == "42"

    server.glance("image-upload", "--file", path, img["id"])

    shown = parse_show(server.glance("image-show", img["id"]).stdout)
    assert shown["status"] == "active"
    assert shown["checksum"] == md5
    assert shown["os_hash_algo"] == "sha512"
    assert shown["os_hash_value"] == sha512
    assert int(shown["size"]) == len(data)
    assert shown["distro"] == "debian"

    # the same over the plain API
    body = alice.show(img["id"])
    assert body["checksum"] == md5 and body["os_hash_value"] == sha512
    assert body["size"] == len(data) and body["status"] == "active"

    out = tmp_path / "download.raw"
    server.glance("image-download", "--file", out, img["id"])  # glanceclient verifies sha512
    assert out.read_bytes() == data


def test_create_with_file_in_one_step(server, files, tmp_path, cleanup, run_id):
    path, data = files["small"]
    img = _create(server, f"{run_id}-gc-small", "--file", path)
    cleanup.append(img["id"])
    assert img["status"] == "active"
    assert img["checksum"] == hashlib.md5(data).hexdigest()
    assert img["os_hash_value"] == hashlib.sha512(data).hexdigest()
    out = tmp_path / "small.out"
    server.glance("image-download", "--file", out, img["id"])
    assert out.read_bytes() == data


def test_update_and_tags(server, cleanup, run_id, alice):
    img = _create(server, f"{run_id}-gc-upd", "--property", "keep=1", "--property", "drop=2")
    cleanup.append(img["id"])

    out = server.glance("image-update", "--name", f"{run_id}-gc-renamed",
                        "--property", "added=yes", "--remove-property", "drop",
                        img["id"]).stdout
    upd = parse_show(out)
    assert upd["name"] == f"{run_id}-gc-renamed"
    assert upd["added"] == "yes" and upd["keep"] == "1"
    assert "drop" not in upd
    body = alice.show(img["id"])
    assert body["name"] == f"{run_id}-gc-renamed" and body["added"] == "yes"
    assert "drop" not in body

    server.glance("image-tag-update", img["id"], "tagA")
    server.glance("image-tag-update", img["id"], "tagB")
    assert sorted(alice.show(img["id"])["tags"]) == ["tagA", "tagB"]
    server.glance("image-tag-delete", img["id"], "tagA")
    assert alice.show(img["id"])["tags"] == ["tagB"]
    # deleting a tag that is not there
    r = server.glance("image-tag-delete", img["id"], "nope", check=False)
    assert r.returncode != 0
    assert "404" in r.stderr + r.stdout or "not found" in (r.stderr + r.stdout).lower()


def test_members_share_with_project_b(server, files, cleanup, run_id, bob):
    path, data = files["tiny"]
    img = _create(server, f"{run_id}-gc-shared", "--file", path)
    cleanup.append(img["id"])
    assert img["visibility"] == "shared"

    # before sharing projB cannot see it
    assert bob.get(f"/v2/images/{img['id']}").status_code == 404

    out = server.glance("member-create", img["id"], PROJ_B).stdout
    rows = parse_list(out)
    assert rows and rows[0]["Member ID"] == PROJ_B and rows[0]["Status"] == "pending"

    # pending: bob can GET it but it is not in his default list
    assert bob.get(f"/v2/images/{img['id']}").status_code == 200
    ids = [r["ID"] for r in parse_list(server.glance("image-list", token=BOB).stdout)]
    assert img["id"] not in ids

    members = parse_list(server.glance("member-list", "--image-id", img["id"]).stdout)
    assert [m["Member ID"] for m in members] == [PROJ_B]

    # the owner cannot accept on projB's behalf
    r = server.glance("member-update", img["id"], PROJ_B, "accepted", check=False)
    assert r.returncode != 0

    out = server.glance("member-update", img["id"], PROJ_B, "accepted", token=BOB).stdout
    assert parse_list(out)[0]["Status"] == "accepted"

    ids = [r["ID"] for r in parse_list(server.glance("image-list", token=BOB).stdout)]
    assert img["id"] in ids
    # and bob can download it
    assert bob.get(f"/v2/images/{img['id']}/file").content == data

    server.glance("member-delete", img["id"], PROJ_B)
    assert bob.get(f"/v2/images/{img['id']}").status_code == 404


def test_deactivate_reactivate_delete(server, files, tmp_path, run_id, cleanup, alice):
    path, data = files["tiny"]
    img = _create(server, f"{run_id}-gc-deact", "--file", path)
    cleanup.append(img["id"])

    server.glance("image-deactivate", img["id"])
    assert alice.show(img["id"])["status"] == "deactivated"
    out = tmp_path / "deact.out"
    r = server.glance("image-download", "--file", out, img["id"], check=False)
    assert r.returncode != 0, r.stdout
    assert "403" in r.stderr + r.stdout or "forbidden" in (r.stderr + r.stdout).lower()
    assert alice.get(f"/v2/images/{img['id']}/file").status_code == 403

    server.glance("image-reactivate", img["id"])
    assert alice.show(img["id"])["status"] == "active"
    server.glance("image-download", "--file", out, img["id"])
    assert out.read_bytes() == data

    server.glance("image-delete", img["id"])
    assert alice.get(f"/v2/images/{img['id']}").status_code == 404
    r = server.glance("image-show", img["id"], check=False)
    assert r.returncode != 0


def test_list_filters_and_pagination(server, cleanup, run_id, alice):
    names = [f"{run_id}-ls-{c}" for c in ("d", "b", "e", "a", "c")]
    ids = {}
    for i, n in enumerate(names):
        extra = ["--property", f"lsrun={run_id}"]
        if i % 2 == 0:
            extra += ["--property", "parity=even"]
        img = _create(server, n, *extra)
        cleanup.append(img["id"])
        ids[n] = img["id"]
    server.glance("image-tag-update", ids[names[1]], f"{run_id}-tag")
    server.glance("image-tag-update", ids[names[3]], f"{run_id}-tag")

    # --page-size 2 across 5 images: glanceclient follows `next` links
    out = server.glance("image-list", "--page-size", "2", "--property-filter",
                        f"lsrun={run_id}", "--sort-key", "name", "--sort-dir", "asc").stdout
    rows = parse_list(out)
    assert [r["Name"] for r in rows] == sorted(names)

    out = server.glance("image-list", "--property-filter", f"lsrun={run_id}",
                        "--property-filter", "parity=even", "--sort-key", "name",
                        "--sort-dir", "desc").stdout
    assert [r["Name"] for r in parse_list(out)] == sorted(
        [names[0], names[2], names[4]], reverse=True)

    out = server.glance("image-list", "--tag", f"{run_id}-tag").stdout
    assert sorted(r["ID"] for r in parse_list(out)) == sorted([ids[names[1]], ids[names[3]]])

    # the raw API agrees: limit=2 pages carry `next` links until the last one
    r = alice.get("/v2/images", params={"lsrun": run_id, "limit": 2, "sort_key": "name",
                                        "sort_dir": "asc"})
    assert r.status_code == 200
    page = r.json()
    assert [i["name"] for i in page["images"]] == sorted(names)[:2]
    assert "next" in page and "marker=" in page["next"]
    assert [i["name"] for i in alice.list_all(lsrun=run_id, limit=2, sort_key="name",
                                              sort_dir="asc")] == sorted(names)


def test_admin_lists_with_glance_cli(server, cleanup, run_id):
    img = _create(server, f"{run_id}-gc-priv", "--visibility", "private")
    cleanup.append(img["id"])
    ids = [r["ID"] for r in parse_list(server.glance("image-list", token=ADMIN).stdout)]
    assert img["id"] in ids
    ids = [r["ID"] for r in parse_list(server.glance("image-list", token=BOB).stdout)]
    assert img["id"] not in ids


def test_create_with_data_on_stdin(server, files, cleanup, run_id, alice):
    """`glance image-create ... < file`: glanceclient streams stdin (chunked, no size)."""
    path, data = files["big"]
    img = parse_show(server.glance("image-create", "--disk-format", "raw", "--container-format",
                                   "bare", "--name", f"{run_id}-gc-stdin",
                                   stdin_path=path).stdout)
    cleanup.append(img["id"])
    body = alice.show(img["id"])
    assert body["status"] == "active" and body["size"] == len(data)
    assert body["os_hash_value"] == hashlib.sha512(data).hexdigest()
    assert alice.get(f"/v2/images/{img['id']}/file").content == data
