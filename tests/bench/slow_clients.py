#!/usr/bin/env python3
"""Uploads on one node with and without slow clients (issue 16): each slow client sends a
request head one byte per second and never finishes it. Each round is `make bench`'s
concurrency workload, CONCURRENT uploads of a SIZE-MiB image at once; prints the median
aggregate MiB/s and the failed uploads over RUNS rounds with 0 and with N slow clients. A
figure, never an assertion.

    TESSERA_BIN=target/release/tessera tests/bench/slow_clients.py [--clients 200] [--mib 64]
        [--concurrent 16]
"""

import argparse
import concurrent.futures
import os
import socket
import statistics
import subprocess
import tempfile
import threading
import time

import requests

TOKEN = "bench:bench:admin,member,reader"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def slow_client(port: int, stop: threading.Event) -> None:
    """Sends a never-ending request head, a byte a second; reconnects when the server cuts it
    off (at its header timeout), so the load stays on for the whole run."""
    head = b"PUT /v2/images HTTP/1.1\r\nhost: x\r\nx-slow: " + b"a" * 100000
    while not stop.is_set():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                for i in range(len(head)):
                    if stop.is_set():
                        return
                    s.sendall(head[i:i + 1])
                    stop.wait(1)
        except OSError:
            stop.wait(0.2)


def upload_seconds(url: str, data: bytes) -> float:
    h = {"x-auth-token": TOKEN}
    r = requests.post(f"{url}/v2/images", headers=h, timeout=30,
                      json={"name": "bench", "disk_format": "raw", "container_format": "bare"})
    r.raise_for_status()
    image = r.json()["id"]
    start = time.monotonic()
    r = requests.put(f"{url}/v2/images/{image}/file", data=data, timeout=600,
                     headers={**h, "content-type": "application/octet-stream"})
    took = time.monotonic() - start
    r.raise_for_status()
    requests.delete(f"{url}/v2/images/{image}", headers=h, timeout=30)
    return took


def round_mib_s(url: str, data: bytes, concurrent_uploads: int) -> tuple[float, int]:
    """One round of `concurrent_uploads` uploads at once: aggregate MiB/s of those that
    succeeded, and how many failed."""
    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(concurrent_uploads) as pool:
        futures = [pool.submit(upload_seconds, url, data) for _ in range(concurrent_uploads)]
        ok = sum(1 for f in futures if f.exception() is None)
    took = time.monotonic() - start
    return ok * len(data) / (1 << 20) / took, concurrent_uploads - ok


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--clients", type=int, default=200)
    p.add_argument("--mib", type=int, default=64)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--concurrent", type=int, default=16)
    a = p.parse_args()
    binary = os.environ.get("TESSERA_BIN", "target/release/tessera")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    data = os.urandom(a.mib << 20)
    with tempfile.TemporaryDirectory() as tmp:
        log = open(os.path.join(tmp, "node.log"), "w")
        node = subprocess.Popen([binary, "serve", "--data-dir", tmp, "--listen",
                                 f"127.0.0.1:{port}"], stdout=log, stderr=log)
        try:
            # Ready once the image API answers (its Raft group has a leader), not just the
            # listener.
            for _ in range(300):
                try:
                    r = requests.get(f"{url}/v2/images", timeout=1,
                                     headers={"x-auth-token": TOKEN})
                    if r.status_code == 200:
                        break
                except requests.RequestException:
                    pass
                time.sleep(0.1)
            upload_seconds(url, data)  # warm up
            quiet = [round_mib_s(url, data, a.concurrent) for _ in range(a.runs)]
            stop = threading.Event()
            threads = [threading.Thread(target=slow_client, args=(port, stop), daemon=True)
                       for _ in range(a.clients)]
            for t in threads:
                t.start()
            time.sleep(3)
            loaded = [round_mib_s(url, data, a.concurrent) for _ in range(a.runs)]
            stop.set()
        finally:
            node.terminate()
            node.wait(timeout=30)
    q = statistics.median(r for r, _ in quiet)
    l = statistics.median(r for r, _ in loaded)
    print(f"{a.concurrent} concurrent uploads of {a.mib} MiB, median of {a.runs} rounds:")
    print(f"  no slow clients:   {q:7.1f} MiB/s  failed uploads {sum(f for _, f in quiet)}")
    print(f"  {a.clients:3} slow clients:  {l:7.1f} MiB/s  failed uploads {sum(f for _, f in loaded)}")
    print(f"  ratio loaded/quiet: {l / q:5.2f}")


if __name__ == "__main__":
    main()
