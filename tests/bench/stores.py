#!/usr/bin/env python3
"""Upload and download MB/s of a 1 GiB image through each store driver (issue 14), on one
node through the image API, in one run: the stores are `cluster`, `file`, `swift` and `s3`
(both on a real Swift all-in-one, ../shared/peer/swift/saio.sh, on loopback). Each store
gets its own image (`X-Image-Meta-Store`), so the download reads from that store. Figures
only, never an assertion; ROUNDS rounds, the median printed.

    TESSERA_BIN=target/release/tessera tests/bench/stores.py [--mib 1024] [--rounds 2]
"""

import argparse
import fcntl
import hashlib
import os
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import requests

TOKEN = "bench:bench:admin,member,reader"
SAIO = Path(__file__).resolve().parents[3] / "shared/peer/swift/saio.sh"
PROXY = "http://127.0.0.1:18080"
STORES = ("cluster", "file", "swift", "s3")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config(tmp: str) -> str:
    return f"""
[stores]
default = "cluster"

[[stores.store]]
id = "cluster"
driver = "cluster"

[[stores.store]]
id = "file"
driver = "file"
path = "{tmp}/files"

[[stores.store]]
id = "swift"
driver = "swift"
auth_address = "{PROXY}/auth/v1.0"
user = "test:tester"
key = "testing"
container = "bench"
create_container_on_put = true

[[stores.store]]
id = "s3"
driver = "s3"
endpoint = "{PROXY}"
access_key = "test:tester"
secret_key = "testing"
bucket = "bench"
create_bucket_on_put = true
"""


def one(url: str, store: str, data: bytes, md5: str) -> tuple[float, float]:
    """Seconds to upload `data` into `store` and to download it back (checked)."""
    h = {"x-auth-token": TOKEN}
    r = requests.post(f"{url}/v2/images", headers=h, timeout=30,
                      json={"name": f"bench-{store}", "disk_format": "raw",
                            "container_format": "bare"})
    r.raise_for_status()
    image = r.json()["id"]
    try:
        start = time.monotonic()
        r = requests.put(f"{url}/v2/images/{image}/file", data=data, timeout=1800,
                         headers={**h, "content-type": "application/octet-stream",
                                  "x-image-meta-store": store})
        up = time.monotonic() - start
        r.raise_for_status()
        digest = hashlib.md5()
        start = time.monotonic()
        with requests.get(f"{url}/v2/images/{image}/file", headers=h, stream=True,
                          timeout=1800) as r:
            r.raise_for_status()
            for piece in r.iter_content(1 << 20):
                digest.update(piece)
        down = time.monotonic() - start
        if digest.hexdigest() != md5:
            raise SystemExit(f"{store}: downloaded bytes differ from the upload")
        return up, down
    finally:
        requests.delete(f"{url}/v2/images/{image}", headers=h, timeout=60)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--mib", type=int, default=1024)
    p.add_argument("--rounds", type=int, default=2)
    a = p.parse_args()
    if not SAIO.exists():
        raise SystemExit(f"no {SAIO}: the swift and s3 stores need it")
    binary = os.environ.get("TESSERA_BIN", "target/release/tessera")
    data = os.urandom(a.mib << 20)
    md5 = hashlib.md5(data).hexdigest()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    results: dict[str, list[tuple[float, float]]] = {s: [] for s in STORES}
    with open("/tmp/tessera-swift.lock", "w") as lock, tempfile.TemporaryDirectory() as tmp:
        fcntl.flock(lock, fcntl.LOCK_EX)
        subprocess.run(["bash", str(SAIO), "start"], check=True, timeout=300,
                       stdout=subprocess.DEVNULL)
        cfg = Path(tmp) / "node.toml"
        cfg.write_text(config(tmp))
        log = open(Path(tmp) / "node.log", "w")
        node = subprocess.Popen([binary, "serve", "--data-dir", f"{tmp}/data", "--listen",
                                 f"127.0.0.1:{port}", "--config", str(cfg)],
                                stdout=log, stderr=log)
        try:
            for _ in range(300):
                try:
                    if requests.get(f"{url}/v2/images", timeout=1,
                                    headers={"x-auth-token": TOKEN}).status_code == 200:
                        break
                except requests.RequestException:
                    pass
                time.sleep(0.1)
            for _ in range(a.rounds):
                for store in STORES:
                    results[store].append(one(url, store, data, md5))
        finally:
            node.terminate()
            node.wait(timeout=30)
            subprocess.run(["bash", str(SAIO), "stop"], timeout=300, stdout=subprocess.DEVNULL)
    mb = len(data) / 1e6
    print(f"{a.mib} MiB image through the image API, one node, median of {a.rounds} rounds:")
    print(f"  {'store':8} {'upload MB/s':>12} {'download MB/s':>14}")
    for store in STORES:
        up = statistics.median(u for u, _ in results[store])
        down = statistics.median(d for _, d in results[store])
        print(f"  {store:8} {mb / up:12.0f} {mb / down:14.0f}")


if __name__ == "__main__":
    main()
