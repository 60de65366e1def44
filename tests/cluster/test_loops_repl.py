"""The replicator on real 4-node clusters (R=3): a wiped chunk folder is refilled, a node lost
for good and removed gets its chunks back to R elsewhere, and `tessera cluster leave` drains a
node before removing it. Periods are shortened with serve flags only."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
import requests

from conftest import ADMIN, Cluster, _bin

MiB = 1024 * 1024
R = 3
FAST = ["--replicator-interval=1", "--handoff-grace=5", "--snapshot-logs=20"]


@pytest.fixture
def cluster4():
    c = Cluster(4, FAST)
    try:
        yield c
    finally:
        c.down()


def chunk_dir(cluster: Cluster, name: str) -> Path:
    node = next(n for n in cluster.nodes if n["name"] == name)
    return Path(node["data_dir"]) / "chunks" / "chunks"


def held(cluster: Cluster, name: str) -> set[str]:
    """Chunk ids whose files are in the node's store."""
    root = chunk_dir(cluster, name)
    return {p.name for p in root.glob("*/*/*") if len(p.name) == 64} if root.exists() else set()


def copies(cluster: Cluster, names: list[str]) -> Counter:
    """How many of `names` hold each chunk any of them holds."""
    c: Counter = Counter()
    for n in names:
        c.update(held(cluster, n))
    return c


def wait_all_at(cluster: Cluster, names: list[str], ids: set[str], want: int, timeout: float):
    deadline = time.monotonic() + timeout
    while True:
        c = copies(cluster, names)
        short = {i: c[i] for i in ids if c[i] < want}
        if not short:
            return
        assert time.monotonic() < deadline, f"{len(short)} chunks below {want}: {list(short.items())[:5]}"
        time.sleep(0.5)


def replicator(cluster: Cluster, name: str) -> dict:
    r = requests.get(cluster.url(name) + "/tessera/v1/workers",
                     headers={"X-Auth-Token": ADMIN}, timeout=30)
    r.raise_for_status()
    body = r.json()
    workers = body["workers"] if isinstance(body, dict) else body
    return next(w for w in workers if w["name"] == "replicator")


def wait_no_under_replicated(cluster: Cluster, names: list[str], timeout: float):
    """Each node's replicator completes a fresh pass that finds every chunk at R."""
    start = {n: replicator(cluster, n)["passes"] for n in names}
    deadline = time.monotonic() + timeout
    pending = set(names)
    while pending:
        for n in sorted(pending):
            w = replicator(cluster, n)
            if w["passes"] > start[n] + 1 and w["counters"]["under_replicated"] == 0:
                pending.discard(n)
        assert time.monotonic() < deadline, {n: replicator(cluster, n) for n in pending}
        time.sleep(0.5)


def upload(cluster: Cluster, name: str, size: int, seed: int) -> tuple[str, bytes]:
    api = cluster.session(name)
    data = os.urandom(size)
    img = api.create(name=f"repl-{seed}")
    assert api.upload(img["id"], data).status_code == 204
    return img["id"], data


def tessera(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(_bin("tessera")), *args], capture_output=True, text=True,
                          timeout=600, env={**os.environ, "TESSERA_TOKEN": ADMIN})


def test_wiped_chunk_folder_is_refilled(cluster4):
    names = [n["name"] for n in cluster4.nodes]
    image, data = upload(cluster4, "n1", 12 * MiB, 1)
    ids = set(copies(cluster4, names))
    wait_all_at(cluster4, names, ids, R, 30)
    before = held(cluster4, "n2")
    assert before, "n2 holds some chunks"
    shutil.rmtree(chunk_dir(cluster4, "n2"))
    # Reads keep working meanwhile (other replicas).
    assert cluster4.session("n2").download(image) == data
    wait_all_at(cluster4, names, ids, R, 60)
    assert held(cluster4, "n2") >= before
    wait_no_under_replicated(cluster4, names, 60)


def test_lost_node_removed_without_drain_chunks_regain_r(cluster4):
    names = ["n1", "n2", "n3"]
    images = [upload(cluster4, "n1", 6 * MiB, s) for s in range(3)]
    ids = set(copies(cluster4, names + ["n4"]))
    cluster4.run("kill", "n4", "--signal", "KILL")
    out = tessera("cluster", "leave", "--url", cluster4.url("n1"), "--node", "4", "--no-drain")
    assert out.returncode == 0, out.stderr
    members = {m["id"] for m in cluster4.status("n1")["members"]}
    assert members == {1, 2, 3}
    started = time.monotonic()
    wait_all_at(cluster4, names, ids, R, 120)
    print(f"regained R for {len(ids)} chunks in {time.monotonic() - started:.1f}s")
    wait_no_under_replicated(cluster4, names, 60)
    for image, data in images:
        assert cluster4.session("n3").download(image) == data


def test_leave_drains_then_removes(cluster4):
    names = ["n1", "n2", "n3"]
    images = [upload(cluster4, "n2", 5 * MiB, s) for s in range(3)]
    ids = set(copies(cluster4, names + ["n4"]))
    # Refused when asked of another node with draining.
    out = tessera("cluster", "leave", "--url", cluster4.url("n1"), "--node", "4")
    assert out.returncode != 0 and "drains itself" in out.stderr, out.stderr
    out = tessera("cluster", "leave", "--url", cluster4.url("n4"))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["left"] is True, out.stdout
    # Drained before leaving: every chunk is already on the three others, without waiting.
    c = copies(cluster4, names)
    assert all(c[i] >= R for i in ids), [i for i in ids if c[i] < R][:5]
    cluster4.run("kill", "n4", "--signal", "TERM")
    deadline = time.monotonic() + 30
    while {m["id"] for m in cluster4.status("n1")["members"]} != {1, 2, 3}:
        assert time.monotonic() < deadline
        time.sleep(0.5)
    for image, data in images:
        assert cluster4.session("n1").download(image) == data


def test_chunks_repair_reports_a_full_pass(cluster4):
    image, data = upload(cluster4, "n1", 4 * MiB, 7)
    out = tessera("chunks", "repair", "--url", cluster4.url("n3"))
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["referenced"] >= 2
    assert report["failed"] == 0 and report["unavailable"] == []
    assert report["copies_checked"] == report["referenced"] * R
    # A chunk removed from one of its holders is put back by the pass.
    victim = sorted(held(cluster4, "n1"))[0]
    f = next(chunk_dir(cluster4, "n1").glob(f"*/*/{victim}"))
    f.unlink()
    report = json.loads(tessera("chunks", "repair", "--url", cluster4.url("n2")).stdout)
    assert report["missing"] <= 1 and report["failed"] == 0
    assert victim in held(cluster4, "n1")
