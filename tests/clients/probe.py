#!/usr/bin/env python3
"""Record what a server answers to odd and bad requests (status, headers, body), as Markdown.

    .venv/bin/python tests/clients/probe.py http://127.0.0.1:9292 > /tmp/glance-probe.md

Run it against the real Glance and against Tessera and diff the two. Not a pytest module.
"""
import json
import socket
import sys
import time
import uuid

import requests

URL = (sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:9292").rstrip("/")
ALICE = "alice:projA:member,reader"
BOB = "bob:projB:member,reader"
READER = "rita:projA:reader"
ADMIN = "admin:adminproj:admin,member,reader"
SKIP_HDR = {"date"}
created = []


def show(title, r, body_limit=600):
    if (r.request.method == "POST" and r.request.path_url == "/v2/images"
            and r.status_code == 201):
        created.append(r.json()["id"])
    print(f"### {title}")
    print(f"`{r.request.method} {r.request.path_url}` -> **{r.status_code} {r.reason}**")
    print("```")
    for k, v in r.headers.items():
        if k.lower() not in SKIP_HDR:
            print(f"{k}: {v}")
    print()
    body = r.text
    print(body[:body_limit] + (" …" if len(body) > body_limit else ""))
    print("```")
    print()
    return r


def s(token=ALICE):
    x = requests.Session()
    x.headers["X-Auth-Token"] = token
    return x


def new_image(sess=None, **kw):
    sess = sess or s()
    body = {"name": "probe-" + uuid.uuid4().hex[:6], "disk_format": "raw",
            "container_format": "bare", **kw}
    r = sess.post(URL + "/v2/images", json=body)
    assert r.status_code == 201, r.text
    created.append(r.json()["id"])
    return r.json()


def raw(req: bytes, send_extra=b"", read=True, timeout=10):
    so = socket.create_connection(("127.0.0.1", int(URL.rsplit(":", 1)[1])), timeout=timeout)
    try:
        so.sendall(req)
        if send_extra:
            so.sendall(send_extra)
        if not read:
            return b""
        chunks = []
        try:
            while True:
                c = so.recv(65536)
                if not c:
                    break
                chunks.append(c)
        except socket.timeout:
            chunks.append(b"<timeout>")
        except ConnectionResetError:
            chunks.append(b"<reset>")
        return b"".join(chunks)
    finally:
        so.close()


def main():
    a = s()
    print(f"# Probe of {URL}\n")
    show("GET /", requests.get(URL + "/"))
    show("GET /versions", requests.get(URL + "/versions"))
    show("GET /healthcheck", requests.get(URL + "/healthcheck"))
    show("GET /v2/images (alice)", a.get(URL + "/v2/images"))

    show("POST /v2/images valid", a.post(URL + "/v2/images", json={
        "name": "probe-valid", "disk_format": "raw", "container_format": "bare"}))
    show("POST /v2/images malformed JSON", a.post(
        URL + "/v2/images", data=b'{"name": "x",', headers={"Content-Type": "application/json"}))
    show("POST /v2/images JSON array", a.post(URL + "/v2/images", json=[1, 2]))
    show("POST /v2/images no content type", a.post(URL + "/v2/images", data=b'{"name":"x"}',
                                                   headers={"Content-Type": ""}))
    show("POST /v2/images text/plain", a.post(URL + "/v2/images", data=b'{"name":"x"}',
                                              headers={"Content-Type": "text/plain"}))
    show("POST min_ram string", a.post(URL + "/v2/images", json={"name": "x", "min_ram": "x"}))
    show("POST min_ram negative", a.post(URL + "/v2/images", json={"min_ram": -1}))
    show("POST unknown disk_format", a.post(URL + "/v2/images", json={"disk_format": "floppy"}))
    show("POST name too long", a.post(URL + "/v2/images", json={"name": "n" * 256}))
    show("POST status", a.post(URL + "/v2/images", json={"status": "active"}))
    show("POST checksum", a.post(URL + "/v2/images", json={"checksum": "0" * 32}))
    show("POST size", a.post(URL + "/v2/images", json={"size": 5}))
    show("POST os_hash_value", a.post(URL + "/v2/images", json={"os_hash_value": "ab"}))
    show("POST id not uuid", a.post(URL + "/v2/images", json={"id": "not-a-uuid"}))
    show("POST os_glance_foo", a.post(URL + "/v2/images", json={"os_glance_foo": "x"}))
    show("POST property non-string", a.post(URL + "/v2/images", json={"foo": 5}))
    show("POST visibility bogus", a.post(URL + "/v2/images", json={"visibility": "everyone"}))
    show("POST visibility public as member", a.post(URL + "/v2/images",
                                                     json={"visibility": "public"}))
    show("POST tags not list", a.post(URL + "/v2/images", json={"tags": "a"}))
    show("POST tag too long", a.post(URL + "/v2/images", json={"tags": ["t" * 256]}))
    show("POST as reader", s(READER).post(URL + "/v2/images", json={"name": "x"}))
    show("POST duplicate id", a.post(URL + "/v2/images", json={"id": created[0]}))
    show("POST huge property value 70 KiB", a.post(URL + "/v2/images",
                                                    json={"big": "x" * 70000}))
    show("POST property value 256 chars", a.post(URL + "/v2/images", json={"p": "x" * 256}))
    show("POST 129 properties", a.post(URL + "/v2/images",
                                       json={f"p{i}": "v" for i in range(129)}))
    show("POST 200 KiB body, 100 props of 2000 chars", a.post(
        URL + "/v2/images", json={f"q{i}": "y" * 2000 for i in range(100)}))
    show("POST 1.2 MiB body", a.post(URL + "/v2/images", json={"name": "x", "pad": "z" * 1200000}))

    img = new_image(a, min_ram=1)
    iid = img["id"]
    P = URL + f"/v2/images/{iid}"
    jp = {"Content-Type": "application/openstack-images-v2.1-json-patch"}
    show("PATCH wrong content type (application/json)", a.patch(
        P, data=json.dumps([{"op": "replace", "path": "/name", "value": "n"}]),
        headers={"Content-Type": "application/json"}))
    show("PATCH application/openstack-images-v2.0-json-patch", a.patch(
        P, data=json.dumps([{"op": "replace", "path": "/name", "value": "n2"}]),
        headers={"Content-Type": "application/openstack-images-v2.0-json-patch"}))
    show("PATCH replace /status", a.patch(P, data=json.dumps(
        [{"op": "replace", "path": "/status", "value": "active"}]), headers=jp))
    show("PATCH add /checksum", a.patch(P, data=json.dumps(
        [{"op": "add", "path": "/checksum", "value": "0" * 32}]), headers=jp))
    show("PATCH add /id", a.patch(P, data=json.dumps(
        [{"op": "add", "path": "/id", "value": str(uuid.uuid4())}]), headers=jp))
    show("PATCH add /os_glance_foo", a.patch(P, data=json.dumps(
        [{"op": "add", "path": "/os_glance_foo", "value": "x"}]), headers=jp))
    show("PATCH add /owner (member)", a.patch(P, data=json.dumps(
        [{"op": "replace", "path": "/owner", "value": "projX"}]), headers=jp))
    show("PATCH remove /name", a.patch(P, data=json.dumps(
        [{"op": "remove", "path": "/name"}]), headers=jp))
    show("PATCH remove missing prop", a.patch(P, data=json.dumps(
        [{"op": "remove", "path": "/nosuch"}]), headers=jp))
    show("PATCH replace missing prop", a.patch(P, data=json.dumps(
        [{"op": "replace", "path": "/nosuch", "value": "v"}]), headers=jp))
    show("PATCH bad op", a.patch(P, data=json.dumps(
        [{"op": "move", "path": "/name", "from": "/x"}]), headers=jp))
    show("PATCH not a list", a.patch(P, data=json.dumps({"op": "add"}), headers=jp))
    show("PATCH malformed", a.patch(P, data=b"[{", headers=jp))
    show("PATCH min_ram string", a.patch(P, data=json.dumps(
        [{"op": "replace", "path": "/min_ram", "value": "x"}]), headers=jp))
    show("PATCH add /locations", a.patch(P, data=json.dumps(
        [{"op": "add", "path": "/locations/-", "value": {"url": "http://x/y", "metadata": {}}}]),
        headers=jp))
    show("PATCH by bob (other project)", s(BOB).patch(P, data=json.dumps(
        [{"op": "replace", "path": "/name", "value": "b"}]), headers=jp))

    show("PUT file wrong content-type", a.put(P + "/file", data=b"abc",
                                              headers={"Content-Type": "application/json"}))
    # wrong x-openstack-image-size
    img2 = new_image(a)
    show("PUT file x-openstack-image-size too small (declared 10, sent 4096)", a.put(
        URL + f"/v2/images/{img2['id']}/file", data=b"a" * 4096,
        headers={"Content-Type": "application/octet-stream", "x-openstack-image-size": "10"}))
    show("  image after", a.get(URL + f"/v2/images/{img2['id']}"))
    img2b = new_image(a)
    show("PUT file x-openstack-image-size too big (declared 99999, sent 4096)", a.put(
        URL + f"/v2/images/{img2b['id']}/file", data=b"a" * 4096,
        headers={"Content-Type": "application/octet-stream", "x-openstack-image-size": "99999"}))
    show("  image after", a.get(URL + f"/v2/images/{img2b['id']}"))
    img2c = new_image(a)
    show("PUT file chunked with wrong x-openstack-image-size (declared 10)", a.put(
        URL + f"/v2/images/{img2c['id']}/file", data=iter([b"a" * 2048, b"b" * 2048]),
        headers={"Content-Type": "application/octet-stream", "x-openstack-image-size": "10"}))
    show("  image after", a.get(URL + f"/v2/images/{img2c['id']}"))
    img2d = new_image(a)
    show("PUT file x-openstack-image-size garbage", a.put(
        URL + f"/v2/images/{img2d['id']}/file", data=b"a" * 100,
        headers={"Content-Type": "application/octet-stream", "x-openstack-image-size": "abc"}))
    show("  image after", a.get(URL + f"/v2/images/{img2d['id']}"))

    data = bytes(range(256)) * 64  # 16 KiB
    show("PUT file (ok)", a.put(P + "/file", data=data,
                                headers={"Content-Type": "application/octet-stream"}))
    show("PUT file again on active", a.put(P + "/file", data=data,
                                           headers={"Content-Type": "application/octet-stream"}))
    show("GET file", a.get(P + "/file"), body_limit=0)
    show("GET file Range bytes=0-99", a.get(P + "/file", headers={"Range": "bytes=0-99"}),
         body_limit=0)
    show("GET file Range bytes=16000-", a.get(P + "/file", headers={"Range": "bytes=16000-"}),
         body_limit=0)
    show("GET file Range bytes=-10", a.get(P + "/file", headers={"Range": "bytes=-10"}),
         body_limit=0)
    show("GET file Range bytes=100000-200000", a.get(
        P + "/file", headers={"Range": "bytes=100000-200000"}))
    show("GET file Range bytes=0-99,200-299", a.get(
        P + "/file", headers={"Range": "bytes=0-99,200-299"}), body_limit=200)
    show("GET file Range garbage", a.get(P + "/file", headers={"Range": "chars=1-2"}),
         body_limit=0)
    show("GET file Range bytes=10-5", a.get(P + "/file", headers={"Range": "bytes=10-5"}),
         body_limit=0)
    show("GET file Content-Range", a.get(P + "/file",
                                         headers={"Content-Range": "bytes 0-9/16384"}),
         body_limit=0)
    show("HEAD file", a.head(P + "/file"))
    show("GET file by bob", s(BOB).get(P + "/file"))
    show("GET image by bob", s(BOB).get(P))
    show("GET unknown image", a.get(URL + f"/v2/images/{uuid.uuid4()}"))
    show("GET non-uuid image", a.get(URL + "/v2/images/not-a-uuid"))
    show("GET unknown file", a.get(URL + f"/v2/images/{uuid.uuid4()}/file"))
    show("GET file of queued image", a.get(URL + f"/v2/images/{img2d['id']}/file"))
    show("DELETE unknown image", a.delete(URL + f"/v2/images/{uuid.uuid4()}"))
    show("GET list bad limit", a.get(URL + "/v2/images?limit=x"))
    show("GET list negative limit", a.get(URL + "/v2/images?limit=-1"))
    show("GET list bad sort_key", a.get(URL + "/v2/images?sort_key=bogus"))
    show("GET list bad sort_dir", a.get(URL + "/v2/images?sort_dir=up"))
    show("GET list unknown marker", a.get(URL + f"/v2/images?marker={uuid.uuid4()}"))
    show("GET list bad visibility", a.get(URL + "/v2/images?visibility=bogus"))
    show("GET list limit=1", a.get(URL + "/v2/images?limit=1"))

    # protected
    pimg = new_image(a, protected=True)
    show("DELETE protected", a.delete(URL + f"/v2/images/{pimg['id']}"))
    a.patch(URL + f"/v2/images/{pimg['id']}", data=json.dumps(
        [{"op": "replace", "path": "/protected", "value": False}]), headers=jp)

    # tags
    show("PUT tag", a.put(P + "/tags/x1"))
    show("PUT tag too long", a.put(P + "/tags/" + "t" * 256))
    show("DELETE missing tag", a.delete(P + "/tags/nope"))

    # members
    show("POST member on private image", a.post(
        URL + f"/v2/images/{new_image(a, visibility='private')['id']}/members",
        json={"member": "projB"}))
    show("POST member", a.post(P + "/members", json={"member": "projB"}))
    show("POST member dup", a.post(P + "/members", json={"member": "projB"}))
    show("PUT member status by owner", a.put(P + "/members/projB", json={"status": "accepted"}))
    show("PUT member status bogus by bob", s(BOB).put(P + "/members/projB",
                                                      json={"status": "bogus"}))
    show("PUT member accepted by bob", s(BOB).put(P + "/members/projB",
                                                  json={"status": "accepted"}))
    show("GET members", a.get(P + "/members"))
    show("GET member schema", a.get(URL + "/v2/schemas/member"), body_limit=300)

    # deactivate
    show("POST deactivate (member owner)", a.post(P + "/actions/deactivate"))
    show("GET file deactivated (owner member)", a.get(P + "/file"))
    show("GET file deactivated (admin)", s(ADMIN).get(P + "/file"), body_limit=0)
    show("POST deactivate again", a.post(P + "/actions/deactivate"))
    show("POST reactivate", a.post(P + "/actions/reactivate"))
    show("POST deactivate queued", a.post(URL + f"/v2/images/{img2d['id']}/actions/deactivate"))
    show("POST unknown action", a.post(P + "/actions/explode"))

    # huge header
    try:
        show("GET with 100 KiB header", a.get(URL + "/v2/images",
                                                 headers={"X-Big": "h" * 100 * 1024}))
    except requests.RequestException as e:
        print(f"### GET with 100 KiB header\nexception: {e!r}\n")
    for n in (8 * 1024, 16 * 1024, 60 * 1024):
        try:
            show(f"GET with {n // 1024} KiB header", a.get(URL + "/v2/images",
                                                           headers={"X-Big": "h" * n}),
                 body_limit=200)
        except requests.RequestException as e:
            print(f"### GET with {n // 1024} KiB header\nexception: {e!r}\n")
    print("### raw 100 KiB header response")
    resp = raw(b"GET /v2/images HTTP/1.1\r\nHost: x\r\nX-Auth-Token: " + ALICE.encode() +
               b"\r\nX-Big: " + b"h" * 100 * 1024 + b"\r\nConnection: close\r\n\r\n")
    print("```\n" + resp[:600].decode("latin-1") + "\n```\n")

    # truncated upload
    img3 = new_image(a)
    host = URL.split("//", 1)[1]
    req = (f"PUT /v2/images/{img3['id']}/file HTTP/1.1\r\nHost: {host}\r\n"
           f"X-Auth-Token: {ALICE}\r\nContent-Type: application/octet-stream\r\n"
           f"Content-Length: {4 * 1024 * 1024}\r\n\r\n").encode()
    raw(req, send_extra=b"x" * 100 * 1024, read=False)
    for t in (0.5, 2, 10, 40):
        time.sleep(t)
        show(f"image after truncated upload (+{t}s)", a.get(URL + f"/v2/images/{img3['id']}"),
             body_limit=1000)

    show("GET schema image", a.get(URL + "/v2/schemas/image"), body_limit=200)
    show("GET /v2/info/stores", a.get(URL + "/v2/info/stores"))
    show("GET /v2/info/import", a.get(URL + "/v2/info/import"))
    show("GET /v2/info/usage", a.get(URL + "/v2/info/usage"))
    show("GET /v2/nothing", a.get(URL + "/v2/nothing"))
    show("DELETE /v2/images (method not allowed)", a.delete(URL + "/v2/images"))

    adm = s(ADMIN)
    for iid in created:
        adm.patch(URL + f"/v2/images/{iid}", data=json.dumps(
            [{"op": "replace", "path": "/protected", "value": False}]), headers=jp)
        adm.delete(URL + f"/v2/images/{iid}")


if __name__ == "__main__":
    main()
