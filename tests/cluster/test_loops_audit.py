"""The auditor and the reaper on a real three-node cluster, with periods shortened by flags:
a flipped byte is quarantined, pause/resume, deleted images (delayed delete) lose their
unshared chunks after the grace delay, a node killed during an upload leaves nothing behind,
and the `tessera workers` / `tessera chunks verify` commands and /metrics work."""
from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests

from conftest import ADMIN, Cluster, _bin

MiB = 1024 * 1024
# The node requires grace > upload timeout.
GRACE = 10
SCRUB = 3
UPLOAD_TIMEOUT = 8


@pytest.fixture(scope="module")
def loops():
    c = Cluster(3, [
        "--reaper-interval=1", f"--reaper-grace={GRACE}",
        "--delayed-delete=true", f"--scrub-time={SCRUB}",
        f"--upload-timeout={UPLOAD_TIMEOUT}",
        "--auditor-period=2", "--auditor-rate=1048576",
    ])
    try:
        yield c
    finally:
        c.down()


def data_dir(c: Cluster, name: str) -> Path:
    return Path(next(n for n in c.nodes if n["name"] == name)["data_dir"]) / "chunks"


def chunk_files(c: Cluster, name: str) -> dict[str, Path]:
    """Chunk id -> file, for every chunk node `name` stores."""
    root = data_dir(c, name) / "chunks"
    return {p.name: p for p in root.glob("*/*/*") if p.is_file()}


def worker(c: Cluster, name: str, w: str) -> dict:
    r = requests.get(f"{c.url(name)}/tessera/v1/workers/{w}",
                     headers={"X-Auth-Token": ADMIN}, timeout=30)
    r.raise_for_status()
    return r.json()


def set_worker(c: Cluster, name: str, w: str, key: str, value: str):
    r = requests.put(f"{c.url(name)}/tessera/v1/workers/{w}/settings/{key}", data=value,
                     headers={"X-Auth-Token": ADMIN}, timeout=30)
    assert r.status_code == 204, r.text


def tessera(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(_bin("tessera")), *args, "--token", ADMIN],
                          capture_output=True, text=True, timeout=120)


def wait_for(what: str, f, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while True:
        got = f()
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


def answers(c: Cluster, name: str) -> bool:
    try:
        return c.status(name)["node"]["last_applied"] is not None
    except requests.RequestException:
        return False


def upload(c: Cluster, node: str, data: bytes, name: str) -> str:
    s = c.session(node)
    img = s.create(name=name)
    assert s.upload(img["id"], data).status_code == 204
    return img["id"]


def test_flipped_byte_is_quarantined_and_download_still_verifies(loops):
    before = set(chunk_files(loops, "n3"))
    data = os.urandom(4 * MiB + 17)
    image = upload(loops, "n1", data, "flip")
    # The upload is acknowledged at W=2 copies; n3's may still be on the way.
    new = wait_for("n3's copies", lambda: sorted(set(chunk_files(loops, "n3")) - before))
    victim = chunk_files(loops, "n3")[new[0]]
    good = victim.read_bytes()
    raw = bytearray(good)
    raw[len(raw) // 2] ^= 0x40

    def flip_if_rewritten():
        # A second copy of the chunk racing in (the upload's and the replicator's) renames a
        # good file over the flipped one; flip it again until the auditor has seen it.
        try:
            if victim.read_bytes() == good:
                victim.write_bytes(bytes(raw))
        except FileNotFoundError:
            pass  # quarantined

    flip_if_rewritten()
    corrupted_at = time.monotonic()

    # Speed the auditor up on n3 through the CLI.
    out = tessera("workers", "set", "auditor", "rate", str(256 * MiB), "--url", loops.url("n3"))
    assert out.returncode == 0, out.stderr

    def quarantined():
        if worker(loops, "n3", "auditor")["counters"]["quarantined"] >= 1:
            return True
        flip_if_rewritten()
        return False

    wait_for("quarantine", quarantined)
    quarantined = list((data_dir(loops, "n3") / "quarantine").iterdir())
    assert any(q.name.startswith(victim.name) for q in quarantined), quarantined

    # The download through n3, in the window, is served from good copies and verified.
    r = requests.get(f"{loops.url('n3')}/v2/images/{image}/file",
                     headers={"X-Auth-Token": ADMIN}, timeout=120)
    assert r.status_code == 200 and r.content == data
    # The replicator restores a good copy from a replica (the auditor's repair hint).
    wait_for("restored", lambda: victim.exists() and victim.read_bytes() == good)
    print(f"corrupt chunk repaired {time.monotonic() - corrupted_at:.2f}s after the flip")
    out = tessera("chunks", "verify", "--image", image, "--url", loops.url("n2"))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "ok" in out.stdout


def test_local_verify_reports_corruption_with_a_failing_exit(loops):
    upload(loops, "n1", os.urandom(2 * MiB), "verify")
    out = tessera("workers", "pause", "auditor", "--url", loops.url("n2"))
    assert out.returncode == 0, out.stderr
    try:
        wait_for("paused", lambda: worker(loops, "n2", "auditor")["state"] == "paused")
        victim = next(iter(chunk_files(loops, "n2").values()))
        victim.write_bytes(victim.read_bytes() + b"rot")
        out = tessera("chunks", "verify", "--url", loops.url("n2"))
        assert out.returncode == 1, out.stdout + out.stderr
        assert victim.name in out.stdout
        out = tessera("chunks", "verify", "--url", loops.url("n2"))
        assert out.returncode == 0, out.stdout + out.stderr
    finally:
        assert tessera("workers", "resume", "auditor", "--url", loops.url("n2")).returncode == 0


def test_pause_stops_the_auditor_and_resume_continues(loops):
    upload(loops, "n1", os.urandom(8 * MiB), "slow-audit")
    set_worker(loops, "n1", "auditor", "rate", str(MiB // 2))
    wait_for("a pass in progress",
             lambda: 0 < (worker(loops, "n1", "auditor")["progress"] or 0) < 0.9)
    r = requests.post(f"{loops.url('n1')}/tessera/v1/workers/auditor/pause",
                      headers={"X-Auth-Token": ADMIN}, timeout=30)
    assert r.status_code == 204
    wait_for("paused", lambda: worker(loops, "n1", "auditor")["state"] == "paused")
    at = worker(loops, "n1", "auditor")
    time.sleep(3)
    still = worker(loops, "n1", "auditor")
    assert (still["items"], still["progress"], still["passes"]) == \
        (at["items"], at["progress"], at["passes"])
    r = requests.post(f"{loops.url('n1')}/tessera/v1/workers/auditor/resume",
                      headers={"X-Auth-Token": ADMIN}, timeout=30)
    assert r.status_code == 204
    later = wait_for("progress after resume",
                     lambda: (w := worker(loops, "n1", "auditor"))["items"] > at["items"] and w)
    # It went on from its cursor: further into the same pass, not back to the start.
    assert later["passes"] > at["passes"] or later["progress"] >= at["progress"], (at, later)
    set_worker(loops, "n1", "auditor", "rate", str(64 * MiB))


def test_deleted_image_loses_unshared_chunks_and_keeps_shared_ones(loops):
    names = ("n1", "n2", "n3")
    def settled(before):
        """The new chunk files of each node, once every node (R=3 of 3) holds the same:
        an upload is acknowledged at W=2, the third copy may still be on the way."""
        def same():
            new = {n: set(chunk_files(loops, n)) - before[n] for n in names}
            return new if new["n1"] and all(v == new["n1"] for v in new.values()) else None
        return wait_for("every copy", same)

    s0 = {n: set(chunk_files(loops, n)) for n in names}
    base = os.urandom(6 * MiB)
    a = upload(loops, "n1", base, "a")
    a_chunks = settled(s0)
    s1 = {n: s0[n] | a_chunks[n] for n in names}
    time.sleep(1.1)  # mtimes with a coarse clock: dedup touches must be later
    b_start = time.time()
    b_data = base[:4 * MiB] + os.urandom(2 * MiB)
    b = upload(loops, "n2", b_data, "b")
    settled(s1)

    def touched():
        # Dedup refreshed the shared chunks' mtime on every node holding them.
        shared = {n: {c for c in a_chunks[n]
                      if chunk_files(loops, n)[c].stat().st_mtime >= b_start - 0.5}
                  for n in names}
        return shared if all(shared.values()) else None
    shared = wait_for("dedup touches", touched, timeout=15)
    assert all(shared[n] != a_chunks[n] for n in names)

    r = loops.session("n3").s.delete(f"{loops.url('n3')}/v2/images/{a}", timeout=30)
    assert r.status_code == 204
    # pending_delete: invisible like a deleted image, data kept until scrubbed.
    for n in names:
        api = loops.session(n)
        assert api.s.get(f"{api.url}/v2/images/{a}", timeout=30).status_code == 404
        listed = api.s.get(f"{api.url}/v2/images", timeout=30).json()["images"]
        assert a not in [i["id"] for i in listed]
        assert a_chunks[n] <= set(chunk_files(loops, n))

    def reclaimed():
        return all(not ((a_chunks[n] - shared[n]) & set(chunk_files(loops, n)))
                   for n in names)
    # Copies on other nodes are leased for the upload (60 s after its last renewal), and the
    # reaper skips leased chunks: allow for the lease too.
    wait_for("unshared chunks reaped", reclaimed, timeout=SCRUB + GRACE + 90)
    for n in names:
        assert shared[n] <= set(chunk_files(loops, n)), n
    assert sum(worker(loops, n, "reaper")["counters"]["scrubbed"] for n in names) >= 1
    assert loops.session("n1").download(b) == b_data


def test_node_killed_during_upload_leaves_queued_and_reclaims_partial_chunks(loops):
    victim = next(n for n in ("n1", "n2", "n3") if loops.leader() != n)
    names = ("n1", "n2", "n3")
    before = {n: set(chunk_files(loops, n)) for n in names}
    api = loops.session(victim)
    img = api.create(name="doomed")
    sent = threading.Event()

    def body():
        for i in range(64):
            yield os.urandom(MiB)
            if i == 8:
                sent.set()
            time.sleep(0.2)

    def send():
        try:
            api.s.put(f"{api.url}/v2/images/{img['id']}/file", data=body(), timeout=120,
                      headers={"Content-Type": "application/octet-stream"})
        except requests.RequestException:
            pass
    t = threading.Thread(target=send)
    t.start()
    assert sent.wait(60)
    time.sleep(1)
    loops.run("kill", victim, "--signal", "KILL")
    t.join(60)
    other = loops.session(next(n for n in names if n != victim))
    assert other.show(img["id"])["status"] == "saving"
    wait_for("the stale upload back in queued",
             lambda: other.show(img["id"])["status"] in ("queued", "active"),
             timeout=UPLOAD_TIMEOUT + 30)
    assert other.show(img["id"])["status"] == "queued"
    loops.run("start", victim)
    wait_for("the victim back", lambda: answers(loops, victim))

    def clean():
        for n in names:
            if not set(chunk_files(loops, n)) <= before[n]:
                return False
            if any((data_dir(loops, n) / "tmp").iterdir()):
                return False
        return True
    wait_for("partial chunks reclaimed", clean, timeout=GRACE + 60)


def test_workers_cli_and_metrics(loops):
    out = tessera("workers", "list", "--url", loops.url("n1"))
    assert out.returncode == 0, out.stderr
    assert "auditor" in out.stdout and "reaper" in out.stdout
    out = tessera("workers", "set", "auditor", "rate", "fast", "--url", loops.url("n1"))
    assert out.returncode != 0 and "rate" in out.stderr
    out = tessera("workers", "pause", "nobody", "--url", loops.url("n1"))
    assert out.returncode != 0 and "404" in out.stderr
    r = requests.get(f"{loops.url('n2')}/metrics", headers={"X-Auth-Token": ADMIN}, timeout=30)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    for w in ("auditor", "reaper"):
        assert f'tessera_worker_items_total{{worker="{w}"}}' in r.text
        assert f'tessera_worker_state{{worker="{w}",state="paused"}} 0' in r.text
    assert 'tessera_worker_events_total{worker="reaper",counter="deleted"}' in r.text
    r = requests.get(f"{loops.url('n2')}/metrics",
                     headers={"X-Auth-Token": "bob:projB:member,reader"}, timeout=30)
    assert r.status_code == 403
