"""A real Keystone 30 (../shared/peer/tempest/keystone.sh, on 127.0.0.1:5000) with the users
and projects the Keystone-mode tests need, and a Tessera node validating tokens against it.

Keystone's setup is idempotent: the script installs it on first use (a venv under
/tmp/tessera-peer) and later starts reuse it.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests

from ks import ADMIN_PW, KEYSTONE_SH, KS, REPO, Admin, keystone, keystone_up, password_token  # noqa: F401

class Identities:
    """Projects A and B; alice (member of A), rita (reader of A), bob (member of B), an
    admin; the service user glance (admin + service in project service)."""

    def __init__(self):
        self.admin_api = Admin()
        a = self.admin_api
        self.project = {p: a.ensure("projects", {"name": p, "domain_id": "default"})
                        for p in ("service", "tessA", "tessB", "admin")}
        users = {"glance": ("service", ["admin", "service"]),
                 "alice": ("tessA", ["member", "reader"]),
                 "rita": ("tessA", ["reader"]),
                 "bob": ("tessB", ["member", "reader"])}
        self.user = {}
        for name, (proj, roles) in users.items():
            uid = a.ensure("users", {"name": name, "domain_id": "default",
                                     "password": f"secret{name}"})
            self.user[name] = uid
            for role in roles:
                a.grant(self.project[proj], uid, role)

    def token(self, user: str) -> str:
        if user == "admin":
            return password_token("admin", ADMIN_PW, "admin")
        proj = {"alice": "tessA", "rita": "tessA", "bob": "tessB", "glance": "service"}[user]
        return password_token(user, f"secret{user}", proj)


@pytest.fixture(scope="session")
def identities():
    if not KEYSTONE_SH.exists():
        pytest.fail(f"{KEYSTONE_SH} is missing: the Keystone tests need ../shared/peer")
    already = keystone_up()
    keystone("start")
    yield Identities()
    if not already:
        keystone("stop")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tessera_bin() -> Path:
    env = os.environ.get("TESSERA_BIN")
    if env:
        return Path(env)
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    return target / "debug" / "tessera"


class Node:
    """One `tessera serve` in Keystone mode on a fresh data dir."""

    def __init__(self, extra: list[str] | None = None, config: str = "", auth_url: str = KS,
                 top: str = ""):
        self.dir = tempfile.mkdtemp(prefix="tessera-ks-")
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cfg = Path(self.dir) / "node.toml"
        cfg.write_text(f"""
data_dir = "{self.dir}/data"
listen = "127.0.0.1:{self.port}"
{top}
[auth]
mode = "keystone"
auth_url = "{auth_url}"
username = "glance"
password = "secretglance"
project_name = "service"
user_domain_name = "Default"
project_domain_name = "Default"
token_cache_time = "300s"
{config}
""")
        self.log = open(Path(self.dir) / "node.log", "wb")
        self.proc = subprocess.Popen([str(tessera_bin()), "serve", "--config", str(cfg),
                                      *(extra or [])], stdout=self.log, stderr=self.log)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tessera exited: {Path(self.dir, 'node.log').read_text()}")
            try:
                if requests.get(f"{self.url}/healthcheck", timeout=1).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError("tessera did not come up")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


@pytest.fixture(scope="module")
def node(identities):
    n = Node()
    yield n
    n.stop()
