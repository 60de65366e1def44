"""Gossip membership through the real binaries: every node reports every member's gossip
state and advert, a frozen node (SIGSTOP) is suspected then declared down while uploads go
on with the other two, it comes back alive on SIGCONT, a node shutting down (SIGTERM) is down
at once and alive again after a restart, and `tessera cluster status` prints every node."""
from __future__ import annotations

import json
import os
import subprocess
import time

import requests

from conftest import ADMIN, _bin

MiB = 1024 * 1024
NAMES = ("n1", "n2", "n3")
# Default gossip timings: 1 s probes, 4 s to refute a suspicion; with margin.
DOWN_WITHIN = 20
ALIVE_WITHIN = 20


def _members(cluster, observer: str) -> dict[str, dict]:
    return {m["name"]: m for m in cluster.status(observer)["members"] if "name" in m}


def _everyone_alive(cluster) -> bool:
    """Whether every node sees all three members alive with their adverts."""
    return all(set(ms) == set(NAMES) and all(m["gossip"] == "alive" for m in ms.values())
               for ms in (_members(cluster, o) for o in NAMES))


def _wait_for(what: str, limit: float, probe):
    """Polls `probe` until it returns a truthy value; returns it and the time it took."""
    start = time.monotonic()
    last = None
    while time.monotonic() - start < limit:
        try:
            last = probe()
        except (requests.RequestException, KeyError, AssertionError) as e:
            last = e
        else:
            if last:
                return last, time.monotonic() - start
        time.sleep(0.25)
    raise AssertionError(f"{what} not within {limit}s; last: {last!r}")


def _upload(api, name: str, data: bytes) -> str:
    """Creates and uploads an image, retrying the create while Raft settles."""
    img, _ = _wait_for(f"create {name}", 30, lambda: api.create(name=name))
    r = api.upload(img["id"], data)
    assert r.status_code == 204, r.text
    return img["id"]


def test_every_node_reports_all_members_alive_with_their_adverts(cluster):
    data = os.urandom(3 * MiB)
    _upload(cluster.session("n1"), "gossip-seen", data)

    def all_known(observer):
        ms = _members(cluster, observer)
        ok = (set(ms) == set(NAMES)
              and all(m["gossip"] == "alive" and m["chunks"]["bytes"] >= len(data)
                      for m in ms.values()))
        return ms if ok else None

    for observer in NAMES:
        ms, _ = _wait_for(f"{observer} sees every member alive with its chunks", 30,
                          lambda: all_known(observer))
        by_id = {m["id"]: m for m in ms.values()}
        assert set(by_id) == {1, 2, 3}
        for m in ms.values():
            assert m["zone"] == "default"
            assert m["capacity"] == 1
            assert m["free_bytes"] > 0
            assert m["version"]
            assert m["chunks"]["count"] >= 1
            assert m["api"] == cluster.url(m["name"]).removeprefix("http://")
            assert m["peer"] == m["addr"]
            assert m["role"] in ("leader", "follower")
            assert isinstance(m["term"], int) and isinstance(m["last_applied"], int)


def test_a_frozen_node_is_declared_down_and_uploads_go_on(cluster):
    victim = next(n for n in NAMES if n != cluster.leader())
    others = [n for n in NAMES if n != victim]
    cluster.run("kill", victim, "--signal", "STOP")
    try:
        states = set()

        def victim_down():
            for o in others:
                state = _members(cluster, o)[victim]["gossip"]
                states.add(state)
                if state != "down":
                    return False
            return True

        _, took = _wait_for(f"{others} declare {victim} down", DOWN_WITHIN, victim_down)
        print(f"{victim} declared down by both others {took:.1f}s after SIGSTOP; seen {states}")
        assert states <= {"alive", "suspect", "down"}, states
        # Both remaining nodes hold every chunk; the frozen one is not waited for.
        data = os.urandom(4 * MiB + 1)
        a, b = cluster.session(others[0]), cluster.session(others[1])
        start = time.monotonic()
        image = _upload(a, "while-frozen", data)
        print(f"4 MiB upload with {victim} frozen: {time.monotonic() - start:.1f}s")
        assert b.download(image) == data
    finally:
        cluster.run("kill", victim, "--signal", "CONT")

    _, took = _wait_for(f"{victim} alive again", ALIVE_WITHIN, lambda: _everyone_alive(cluster))
    print(f"{victim} alive again everywhere {took:.1f}s after SIGCONT")
    assert cluster.session(victim).download(image) == data


def test_a_node_that_shuts_down_leaves_at_once_and_rejoins_on_restart(cluster):
    victim = next(n for n in NAMES if n != cluster.leader())
    others = [n for n in NAMES if n != victim]
    cluster.run("kill", victim, "--signal", "TERM")
    # Well under the ~6 s probes and suspicion take: the node said goodbye.
    _, took = _wait_for(f"{others} see {victim} down", 3, lambda: all(
        _members(cluster, o)[victim]["gossip"] == "down" for o in others))
    print(f"{victim} down everywhere {took:.1f}s after SIGTERM")

    def stopped():
        nodes = json.loads(cluster.run("status"))["nodes"]
        return not next(n for n in nodes if n["name"] == victim)["running"]

    _wait_for(f"{victim} to exit", 30, stopped)
    cluster.run("start", victim)
    _wait_for(f"{victim} alive again", ALIVE_WITHIN, lambda: _everyone_alive(cluster))


def test_cluster_status_cli_lists_every_node(cluster):
    tessera = str(_bin("tessera"))
    url = cluster.url("n2")
    out = subprocess.run([tessera, "cluster", "status", "--url", url, "--token", ADMIN],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[1].split()[:6] == ["ID", "NAME", "ROLE", "TERM", "APPLIED", "GOSSIP"], out.stdout
    for name in NAMES:
        row = next((line for line in lines if f" {name} " in line), None)
        assert row is not None, out.stdout
        assert "alive" in row and "default" in row, row
    as_json = subprocess.run([tessera, "cluster", "status", "--url", url, "--token", ADMIN, "--json"],
                             capture_output=True, text=True, timeout=60)
    assert as_json.returncode == 0, as_json.stderr
    assert '"gossip": "alive"' in as_json.stdout
    bad = subprocess.run([tessera, "cluster", "status", "--url", url, "--token", "bob:p:member"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "403" in bad.stderr, bad.stderr
