"""A three-node cluster through the real binaries: any node serves every call, acknowledged
images survive the loss of a minority, restarted and new nodes catch up, and a node with a
certificate from another CA is kept out."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time

import requests

from conftest import ADMIN, _bin

MiB = 1024 * 1024


def test_upload_on_one_node_download_on_another(cluster):
    data = os.urandom(64 * MiB)
    n1, n3 = cluster.session("n1"), cluster.session("n3")
    img = n1.create(name="big")
    assert n1.upload(img["id"], data).status_code == 204
    shown = n3.show(img["id"])
    assert shown["status"] == "active"
    assert shown["checksum"] == hashlib.md5(data).hexdigest()
    assert shown["os_hash_value"] == hashlib.sha512(data).hexdigest()
    assert n3.download(img["id"]) == data
    # R=3 on three nodes: every node holds a copy of every chunk.
    counts = [cluster.status(n)["chunks"]["bytes"] for n in ("n1", "n2", "n3")]
    assert all(c >= len(data) for c in counts), counts


def test_write_on_one_node_is_read_at_once_on_another(cluster):
    for _ in range(5):
        img = cluster.session("n2").create(name="fresh")
        assert cluster.session("n1").show(img["id"])["name"] == "fresh"


def _survives_loss_of(cluster, victim: str):
    """Kill -9 `victim`; the other two keep serving writes, uploads and downloads; the
    victim restarts and catches up."""
    old = cluster.session("n1").create(name=f"before-{victim}")
    old_data = os.urandom(3 * MiB + 5)
    assert cluster.session("n1").upload(old["id"], old_data).status_code == 204
    cluster.run("kill", victim, "--signal", "KILL")
    alive = [n["name"] for n in cluster.nodes if n["name"] != victim][:2]
    a, b = cluster.session(alive[0]), cluster.session(alive[1])
    deadline = time.monotonic() + 30
    while True:
        try:
            img = a.create(name=f"during-{victim}")
            break
        except (AssertionError, requests.RequestException):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    data = os.urandom(5 * MiB)
    assert a.upload(img["id"], data).status_code == 204
    assert b.download(img["id"]) == data
    assert b.download(old["id"]) == old_data
    r = b.s.patch(f"{b.url}/v2/images/{img['id']}",
                  data=json.dumps([{"op": "add", "path": "/k", "value": "v"}]),
                  headers={"Content-Type": "application/openstack-images-v2.1-json-patch"})
    assert r.status_code == 200, r.text
    cluster.run("start", victim)
    back = cluster.session(victim)
    deadline = time.monotonic() + 60
    while True:
        st = cluster.status(victim)["node"]
        leader = cluster.status(alive[0])["node"]
        if st["last_applied"] is not None and st["last_applied"] >= leader["last_applied"]:
            break
        assert time.monotonic() < deadline, (st, leader)
        time.sleep(0.5)
    assert back.show(img["id"])["k"] == "v"
    assert back.download(img["id"]) == data


def test_losing_a_follower(cluster):
    leader = cluster.leader()
    follower = next(n["name"] for n in cluster.nodes if n["name"] != leader)
    _survives_loss_of(cluster, follower)


def test_losing_the_leader(cluster):
    _survives_loss_of(cluster, cluster.leader())


def test_fourth_node_catches_up_from_a_snapshot(cluster):
    api = cluster.session("n1")
    for i in range(30):  # past the 20-entry snapshot interval
        api.create(name=f"bulk-{i}")
    node = json.loads(cluster.run("add"))
    assert node["name"] == "n4"
    deadline = time.monotonic() + 60
    while True:
        st = cluster.status("n4")["node"]
        if st["snapshot_index"] is not None and st["last_applied"] is not None:
            break
        assert time.monotonic() < deadline, st
        time.sleep(0.5)
    assert st["snapshot_index"] >= 20, st
    members = cluster.status("n1")["members"]
    assert {m["id"] for m in members} == {1, 2, 3, 4}
    r = cluster.session("n4").s.get(cluster.url("n4") + "/v2/images?name=bulk-29", timeout=30)
    assert len(r.json()["images"]) == 1


def _joiner_is_refused(cluster, tmp_path, node_id: int, name: str, certs):
    """Starts node `node_id` with the certificates in `certs`, joining through n1 (beside n1,
    in its namespace); asserts that every join is refused and it never becomes a member.
    Returns its log."""
    tessera = _bin("tessera")
    n1 = next(n for n in cluster.nodes if n["name"] == "n1")
    netns = n1["netns"]
    cmd = [str(tessera), "serve", "--node-id", str(node_id), "--node-name", name,
           "--data-dir", str(tmp_path / "data"), "--listen", "127.0.0.99:9299",
           "--peer-listen", "127.0.0.99:7199", "--certs", str(certs), "--join", n1["peer"]]
    if netns is not None:
        # Run beside n1, inside its namespace, so the refusal is the certificate's doing.
        cmd = ["ip", "netns", "exec", netns] + cmd
    log = open(tmp_path / f"{name}.log", "wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        text = ""
        while "join failed" not in text and time.monotonic() < deadline:
            time.sleep(0.5)
            text = (tmp_path / f"{name}.log").read_text(errors="replace")
        assert "join failed" in text, text[-2000:]
        assert node_id not in {m["id"] for m in cluster.status("n1")["members"]}
        assert proc.poll() is None or proc.returncode != 0
        return text
    finally:
        proc.kill()
        proc.wait()


def test_node_with_a_foreign_certificate_is_refused(cluster, tmp_path):
    other = tmp_path / "other-ca"
    subprocess.run([str(_bin("tessera")), "cluster", "init", "--dir", str(other), "--node",
                    "intruder", "--id", "99"], check=True, capture_output=True)
    text = _joiner_is_refused(cluster, tmp_path, 99, "intruder", other)
    assert "refused" in text.lower() or "handshake" in text.lower(), text[-2000:]


def test_a_revoked_node_cannot_join(cluster, tmp_path):
    """A valid certificate of the cluster's own CA, revoked through Raft (`tessera cluster
    revoke`), no longer gets a node in: n1 cuts its connection at the handshake."""
    tessera = str(_bin("tessera"))
    certs = tmp_path / "certs"
    subprocess.run([tessera, "cluster", "cert", "--ca", str(cluster.dir / "certs-ca"),
                    "--node", "n9", "--id", "9", "--out", str(certs)],
                   check=True, capture_output=True)
    revoke = subprocess.run([tessera, "cluster", "revoke", "9", "--url", cluster.url("n2"),
                             "--token", ADMIN], capture_output=True, text=True, timeout=60)
    assert revoke.returncode == 0, revoke.stderr
    assert json.loads(revoke.stdout)["node"] == 9
    text = _joiner_is_refused(cluster, tmp_path, 9, "n9", certs)
    assert "revoked" in text, text[-2000:]
