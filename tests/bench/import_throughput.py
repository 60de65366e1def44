#!/usr/bin/env python3
"""Interoperable import against a plain upload on one node (issue 13): the time to bring a
SIZE-MiB image to `active` by `PUT /file`, and by `PUT /stage` then `POST /import`
(glance-direct, until the image is active), alternating, median of RUNS runs each. Prints
figures; never an assertion.

    TESSERA_BIN=target/release/tessera tests/bench/import_throughput.py [--mib 1024] [--runs 3]
"""

import argparse
import os
import socket
import statistics
import subprocess
import tempfile
import time

import requests

TOKEN = "bench:bench:admin,member,reader"
H = {"x-auth-token": TOKEN}
OCTETS = {**H, "content-type": "application/octet-stream"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def create(url: str) -> str:
    r = requests.post(f"{url}/v2/images", headers=H, timeout=30,
                      json={"name": "bench", "disk_format": "raw", "container_format": "bare"})
    r.raise_for_status()
    return r.json()["id"]


def upload(url: str, path: str) -> float:
    image = create(url)
    start = time.monotonic()
    with open(path, "rb") as f:
        r = requests.put(f"{url}/v2/images/{image}/file", data=f, headers=OCTETS, timeout=3600)
    r.raise_for_status()
    took = time.monotonic() - start
    requests.delete(f"{url}/v2/images/{image}", headers=H, timeout=60)
    return took


def stage_import(url: str, path: str) -> tuple[float, float]:
    """Seconds of the stage alone, and from the stage's start to `active`."""
    image = create(url)
    start = time.monotonic()
    with open(path, "rb") as f:
        r = requests.put(f"{url}/v2/images/{image}/stage", data=f, headers=OCTETS, timeout=3600)
    r.raise_for_status()
    staged = time.monotonic() - start
    r = requests.post(f"{url}/v2/images/{image}/import", headers=H, timeout=60,
                      json={"method": {"name": "glance-direct"}})
    r.raise_for_status()
    while True:
        status = requests.get(f"{url}/v2/images/{image}", headers=H, timeout=30).json()["status"]
        if status == "active":
            break
        if status == "queued":
            raise RuntimeError("import failed")
        time.sleep(0.05)
    took = time.monotonic() - start
    requests.delete(f"{url}/v2/images/{image}", headers=H, timeout=60)
    return staged, took


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--mib", type=int, default=1024)
    p.add_argument("--runs", type=int, default=3)
    a = p.parse_args()
    binary = os.environ.get("TESSERA_BIN", "target/release/tessera")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "image.raw")
        with open(data, "wb") as f:
            for _ in range(a.mib):
                f.write(os.urandom(1 << 20))
        log = open(os.path.join(tmp, "node.log"), "w")
        node = subprocess.Popen([binary, "serve", "--data-dir", os.path.join(tmp, "data"),
                                 "--listen", f"127.0.0.1:{port}"], stdout=log, stderr=log)
        try:
            for _ in range(300):
                try:
                    requests.get(f"{url}/versions", timeout=1)
                    break
                except requests.RequestException:
                    time.sleep(0.1)
            puts, stages, imports = [], [], []
            for _ in range(a.runs):
                puts.append(upload(url, data))
                staged, imported = stage_import(url, data)
                stages.append(staged)
                imports.append(imported)
        finally:
            node.terminate()
            node.wait(timeout=60)
    put, stage, imp = (statistics.median(x) for x in (puts, stages, imports))
    print(f"{a.mib} MiB image, one node, median of {a.runs} (alternating):")
    print(f"  PUT /file to active:           {put:7.2f} s  ({a.mib / put:7.1f} MiB/s)")
    print(f"  PUT /stage alone:              {stage:7.2f} s  ({a.mib / stage:7.1f} MiB/s)")
    print(f"  stage + import to active:      {imp:7.2f} s  ({a.mib / imp:7.1f} MiB/s)")
    print(f"  ratio (stage+import)/PUT:      {imp / put:7.2f}")


if __name__ == "__main__":
    main()
