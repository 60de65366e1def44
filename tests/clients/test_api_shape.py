"""Shapes real clients depend on: version documents, list envelopes and pagination links,
error bodies."""
import uuid

import requests


def test_version_documents(server):
    root = requests.get(server.url + "/", timeout=30)
    assert root.status_code == 300  # openstack/SDK discovery
    versions = requests.get(server.url + "/versions", timeout=30)
    assert versions.status_code == 200  # glanceclient
    for r in (root, versions):
        body = r.json()
        ids = {v["id"]: v for v in body["versions"]}
        assert "v2.0" in ids
        current = [v for v in body["versions"] if v["status"] == "CURRENT"]
        assert len(current) == 1
        for v in body["versions"]:
            assert v["links"][0]["rel"] == "self"
            assert v["links"][0]["href"].rstrip("/").endswith("/v2")
    h = requests.get(server.url + "/healthcheck", timeout=30)
    assert h.status_code == 200 and h.text == "OK"


def test_list_envelope_and_pagination_links(alice, cleanup, run_id):
    ids = []
    for n in ("a", "b", "c"):
        img = alice.create(name=f"{run_id}-pg-{n}", pgrun=run_id)
        cleanup.append(img["id"])
        ids.append(img["id"])
    r = alice.get("/v2/images", params={"pgrun": run_id, "limit": 2, "sort_key": "name",
                                        "sort_dir": "asc"})
    body = r.json()
    assert body["schema"] == "/v2/schemas/images"
    assert body["first"].startswith("/v2/images?")
    assert "limit=2" in body["first"] and "marker" not in body["first"]
    assert [i["id"] for i in body["images"]] == ids[:2]
    assert body["next"].startswith("/v2/images?") and f"marker={ids[1]}" in body["next"]
    # a full last page still has `next`; the page after it is empty and has none
    body2 = alice.get(body["next"]).json()
    assert [i["id"] for i in body2["images"]] == ids[2:]
    assert "next" not in body2
    r = alice.get("/v2/images", params={"pgrun": run_id, "limit": 3, "sort_key": "name",
                                        "sort_dir": "asc"})
    full = r.json()
    assert len(full["images"]) == 3 and "next" in full
    empty = alice.get(full["next"]).json()
    assert empty["images"] == [] and "next" not in empty
    # an image in a list has the same shape as GET /v2/images/{id}
    one = alice.show(ids[0])
    listed = [i for i in full["images"] if i["id"] == ids[0]][0]
    assert listed == one


def test_error_body_follows_accept(alice):
    missing = f"/v2/images/{uuid.uuid4()}"
    r = alice.get(missing, headers={"Accept": "application/json"})
    assert r.status_code == 404
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert body["code"] == "404 Not Found" and body["title"] == "Not Found"
    assert "No image found with ID" in body["message"]
    r = alice.get(missing)
    assert r.status_code == 404
    assert r.headers["Content-Type"].startswith("text/html")
    assert "404 Not Found" in r.text and "No image found with ID" in r.text
