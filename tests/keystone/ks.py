"""A real Keystone for tests: start/stop it (../shared/peer/tempest/keystone.sh), get
password tokens, and make projects, users and grants idempotently. Used by the Keystone-mode
suite (tests/keystone) and the real-client suite in Keystone mode (tests/clients)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]
KEYSTONE_SH = REPO.parent / "shared" / "peer" / "tempest" / "keystone.sh"
KS = "http://127.0.0.1:5000/v3"
ADMIN_PW = "secretadmin"


def keystone(cmd: str) -> None:
    subprocess.run(["bash", str(KEYSTONE_SH), cmd], check=True, timeout=900,
                   stdout=subprocess.DEVNULL)


def password_token(user: str, password: str, project: str | None = None) -> str:
    auth = {"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "domain": {"id": "default"}, "password": password}}}}
    if project:
        auth["scope"] = {"project": {"name": project, "domain": {"id": "default"}}}
    r = requests.post(f"{KS}/auth/tokens", json={"auth": auth}, timeout=30)
    r.raise_for_status()
    return r.headers["X-Subject-Token"]


class Admin:
    """Keystone's admin API, just enough to make projects, users and grants."""

    def __init__(self):
        self.h = {"X-Auth-Token": password_token("admin", ADMIN_PW, "admin")}

    def _find(self, kind: str, name: str) -> str | None:
        r = requests.get(f"{KS}/{kind}", params={"name": name}, headers=self.h, timeout=30)
        r.raise_for_status()
        items = r.json()[kind]
        return items[0]["id"] if items else None

    def ensure(self, kind: str, body: dict) -> str:
        found = self._find(kind, body["name"])
        if found:
            return found
        one = kind[:-1]
        r = requests.post(f"{KS}/{kind}", json={one: body}, headers=self.h, timeout=30)
        r.raise_for_status()
        return r.json()[one]["id"]

    def grant(self, project: str, user: str, role: str) -> None:
        rid = self.ensure("roles", {"name": role})
        r = requests.put(f"{KS}/projects/{project}/users/{user}/roles/{rid}",
                         headers=self.h, timeout=30)
        r.raise_for_status()

    def set_enabled(self, kind: str, ident: str, enabled: bool) -> None:
        one = kind[:-1]
        r = requests.patch(f"{KS}/{kind}/{ident}", json={one: {"enabled": enabled}},
                           headers=self.h, timeout=30)
        r.raise_for_status()


def keystone_up() -> bool:
    try:
        return requests.get(KS, timeout=2).ok
    except requests.RequestException:
        return False
