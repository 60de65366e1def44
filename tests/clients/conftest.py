"""Shared fixtures for the real-client suite.

The suite talks to an OpenStack Image API v2 (Glance) endpoint with the *real* clients
(python-glanceclient's `glance`, python-openstackclient's `openstack`, openstacksdk) and with
plain `requests`.

* `TESSERA_URL=http://127.0.0.1:9292 pytest tests/clients` runs it against an external server
  (e.g. the real Glance peer, /work/shared/peer/glance-start.sh). A comma-separated list of
  URLs (the nodes of a cluster) sends each request and each CLI command to the next node in
  turn.
* Otherwise the session starts `$TESSERA_BIN serve --data-dir <tmp> --listen 127.0.0.1:<port>`
  (TESSERA_BIN defaults to `target/debug/tessera` at the repo root, or under
  `$CARGO_TARGET_DIR`), waits for `/healthcheck` and `/versions`, and stops it at the end.

Identities (noauth): a token `user:project:role[,role...]` selects that identity.

`TESSERA_KEYSTONE=1` runs the same suite in Keystone mode: a real Keystone
(../shared/peer/tempest/keystone.sh, started if it is not running) gets the suite's users and
projects (alice and rita in tessc-A, bob in tessc-B, carol in tessc-C, an admin), every
identity below becomes a real token of that user, and the self-started node validates them
(`[auth] mode = "keystone"`). Tests of the noauth convention itself are marked `noauth` and
skipped there.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest
import requests
from urllib3.util.retry import Retry

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent

ALICE = "alice:projA:member,reader"
BOB = "bob:projB:member,reader"
CAROL = "carol:projC:member,reader"
ADMIN = "admin:adminproj:admin,member,reader"
READER = "rita:projA:reader"  # reader-only in alice's project
PROJ_A, PROJ_B = "projA", "projB"

KEYSTONE = os.environ.get("TESSERA_KEYSTONE") == "1"
KEYSTONE_STARTED = False
if KEYSTONE:
    sys.path.insert(0, str(REPO / "tests" / "keystone"))
    import ks  # noqa: E402

    KEYSTONE_STARTED = not ks.keystone_up()
    ks.keystone("start")

    def _keystone_identities() -> tuple[dict[str, str], dict[str, str]]:
        """Real users for the suite's identities: name -> token, and project ids."""
        a = ks.Admin()
        projects = {p: a.ensure("projects", {"name": f"tessc-{p}", "domain_id": "default"})
                    for p in ("A", "B", "C", "admin")}
        users = {"alice": ("A", ["member", "reader"]), "rita": ("A", ["reader"]),
                 "bob": ("B", ["member", "reader"]), "carol": ("C", ["member", "reader"]),
                 "admin": ("admin", ["admin", "member", "reader"])}
        tokens = {}
        for name, (proj, roles) in users.items():
            user = f"tessc-{name}"
            uid = a.ensure("users", {"name": user, "domain_id": "default",
                                     "password": f"secret-{user}"})
            for role in roles:
                a.grant(projects[proj], uid, role)
            tokens[name] = ks.password_token(user, f"secret-{user}", f"tessc-{proj}")
        # The service user the node validates tokens with (as tests/keystone has it).
        service = a.ensure("projects", {"name": "service", "domain_id": "default"})
        glance = a.ensure("users", {"name": "glance", "domain_id": "default",
                                    "password": "secretglance"})
        for role in ("admin", "service"):
            a.grant(service, glance, role)
        return tokens, projects

    _TOKENS, _PROJECTS = _keystone_identities()
    ALICE, BOB, CAROL = _TOKENS["alice"], _TOKENS["bob"], _TOKENS["carol"]
    ADMIN, READER = _TOKENS["admin"], _TOKENS["rita"]
    PROJ_A, PROJ_B = _PROJECTS["A"], _PROJECTS["B"]


def pytest_collection_modifyitems(config, items):
    if not KEYSTONE:
        return
    skip = pytest.mark.skip(reason="tests the noauth identity convention itself")
    for item in items:
        if "noauth" in item.keywords:
            item.add_marker(skip)

MiB = 1024 * 1024
CLI_TIMEOUT = float(os.environ.get("TESSERA_CLI_TIMEOUT", "180"))


# --------------------------------------------------------------------------------------------
# server management


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _default_bin() -> Path:
    env = os.environ.get("TESSERA_BIN")
    if env:
        p = Path(env)
        return p if p.is_absolute() else REPO / p
    target = os.environ.get("CARGO_TARGET_DIR")
    if target:
        cand = Path(target)
        cand = cand if cand.is_absolute() else REPO / cand
        if (cand / "debug" / "tessera").exists():
            return cand / "debug" / "tessera"
    return REPO / "target" / "debug" / "tessera"


class Server:
    """A server under test: external (TESSERA_URL) or a self-started Tessera node."""

    def __init__(self, url: str | None, args: tuple[str, ...] = ()):
        self.external = url is not None
        self.args = list(args)  # extra `serve` flags of a self-started node
        self.urls = [u.strip().rstrip("/") for u in url.split(",")] if url else []
        self._turn = itertools.count()
        self.proc: subprocess.Popen | None = None
        self.bin = _default_bin()
        self.tmp = None
        self.data_dir: Path | None = None
        self.log_path: Path | None = None
        self.port: int | None = None
        self.restarts = 0

    @property
    def url(self) -> str | None:
        """The next node's base URL (round robin over a cluster's nodes)."""
        if not self.urls:
            return None
        return self.urls[next(self._turn) % len(self.urls)]

    @url.setter
    def url(self, value: str):
        self.urls = [value]

    # -- lifecycle -------------------------------------------------------------------------
    def start(self):
        if self.external:
            self.wait_ready(timeout=30)
            return
        if not self.bin.exists():
            pytest.exit(f"tessera binary not found at {self.bin} (build it, or set TESSERA_BIN "
                        f"or TESSERA_URL)", returncode=3)
        if self.tmp is None:
            self.tmp = Path(tempfile.mkdtemp(prefix="tessera-clients-"))
            self.data_dir = self.tmp / "data"
            self.data_dir.mkdir()
            self.port = _free_port()
            self.url = f"http://127.0.0.1:{self.port}"
        args = list(self.args)
        if KEYSTONE:
            cfg = self.tmp / "keystone.toml"
            cfg.write_text(f"""[auth]
mode = "keystone"
auth_url = "{ks.KS}"
username = "glance"
password = "secretglance"
project_name = "service"
""")
            args += ["--config", str(cfg)]
        self.log_path = self.tmp / f"server-{self.restarts}.log"
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [str(self.bin), "serve", "--data-dir", str(self.data_dir),
             "--listen", f"127.0.0.1:{self.port}", *args],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=str(self.tmp))
        log.close()
        self.wait_ready(timeout=60)

    def wait_ready(self, timeout: float = 60):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}; log:\n"
                                   f"{self.log_tail()}")
            try:
                h = requests.get(self.url + "/healthcheck", timeout=2)
                v = requests.get(self.url + "/versions", timeout=2)
                if h.status_code == 200 and v.status_code == 200:
                    return
                last = f"healthcheck {h.status_code}, versions {v.status_code}"
            except requests.RequestException as e:  # not listening yet
                last = repr(e)
            time.sleep(0.2)
        raise RuntimeError(f"server at {self.url} not ready after {timeout}s: {last}\n"
                           f"{self.log_tail()}")

    def stop(self, sig: int = signal.SIGTERM, grace: float = 20):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None

    def restart(self, sig: int = signal.SIGTERM):
        """Stop the node with `sig` (SIGTERM: graceful; SIGKILL: crash) and start it again on
        the same data dir and port."""
        if self.external:
            pytest.skip("restart needs a self-started node (TESSERA_URL is set)")
        self.stop(sig)
        self.restarts += 1
        self.start()

    def log_tail(self, n: int = 4000) -> str:
        if self.log_path and self.log_path.exists():
            return self.log_path.read_bytes()[-n:].decode("utf-8", "replace")
        return ""

    # -- helpers ---------------------------------------------------------------------------
    def session(self, token: str = ALICE) -> "Api":
        return Api(self, token)

    def glance(self, *args, token: str = ALICE, check: bool = True, timeout=CLI_TIMEOUT,
               stdin_path=None):
        """`glance --os-image-url URL --os-auth-token TOKEN ARGS`; `stdin_path` pipes a file
        into it (`glance image-create ... < file`)."""
        cmd = [str(VENV_BIN / "glance"), "--os-image-url", self.url,
               "--os-auth-token", token, *map(str, args)]
        return run_cli(cmd, check=check, timeout=timeout, stdin_path=stdin_path)

    def openstack(self, *args, token: str = ALICE, check: bool = True, timeout=CLI_TIMEOUT):
        """`openstack` without Keystone: the `admin_token` auth plugin (endpoint + token).
        The endpoint must be the versioned one (URL/v2): with the bare URL, osc does GET /
        (300) but then calls /images without the /v2 prefix. (`token_endpoint` no longer
        exists in osc 10.)"""
        cmd = [str(VENV_BIN / "openstack"), "--os-auth-type", "admin_token",
               "--os-endpoint", self.url + "/v2", "--os-token", token,
               "--os-image-api-version", "2", *map(str, args)]
        return run_cli(cmd, check=check, timeout=timeout)

    def openstack_noauth(self, *args, check: bool = True, timeout=CLI_TIMEOUT):
        """`openstack --os-auth-type none --os-endpoint URL`: no token at all (-> the default
        admin identity), but osc does real version discovery (GET / -> 300) on the bare URL,
        as it does with a Keystone catalog."""
        cmd = [str(VENV_BIN / "openstack"), "--os-auth-type", "none",
               "--os-endpoint", self.url, "--os-image-api-version", "2", *map(str, args)]
        return run_cli(cmd, check=check, timeout=timeout)

    def sdk(self, token: str = ALICE):
        """openstacksdk without Keystone: `admin_token` plugin, image endpoint overridden with
        the bare URL (the SDK then discovers /v2 via GET / -> 300, like a real cloud)."""
        import openstack
        return openstack.connect(auth_type="admin_token",
                                 auth={"endpoint": self.url, "token": token},
                                 image_endpoint_override=self.url,
                                 load_yaml_config=False, load_envvars=False)


def _clean_env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["PATH"] = f"{VENV_BIN}:{env.get('PATH', '')}"
    # no clouds.yaml / caches from the user's home
    env.setdefault("HOME", tempfile.gettempdir())
    return env


def run_cli(cmd, check=True, timeout=CLI_TIMEOUT, stdin_path=None) -> subprocess.CompletedProcess:
    if stdin_path is not None:
        with open(stdin_path, "rb") as f:
            p = subprocess.run(cmd, capture_output=True, timeout=timeout, env=_clean_env(),
                               stdin=f)
        p.stdout, p.stderr = (p.stdout.decode("utf-8", "replace"),
                              p.stderr.decode("utf-8", "replace"))
        if check and p.returncode != 0:
            raise AssertionError(f"command failed ({p.returncode}): {' '.join(cmd)}\n"
                                 f"stdout:\n{p.stdout}\nstderr:\n{p.stderr}")
        return p
    # stdin is a pty: glanceclient's image-create/image-upload read image data from stdin
    # whenever stdin is not a tty (with /dev/null it would upload a 0-byte image). Without
    # ptys, fall back to a closed stdin (glanceclient's documented `<&-` case).
    try:
        master, slave = os.openpty()
    except OSError:
        master = slave = None
    try:
        if slave is not None:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                               env=_clean_env(), stdin=slave)
        else:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                               env=_clean_env(), stdin=None, preexec_fn=lambda: os.close(0))
    finally:
        if slave is not None:
            os.close(slave)
            os.close(master)
    if check and p.returncode != 0:
        raise AssertionError(f"command failed ({p.returncode}): {' '.join(cmd)}\n"
                             f"stdout:\n{p.stdout}\nstderr:\n{p.stderr}")
    return p


class Api:
    """requests.Session bound to a base URL and a token."""

    def __init__(self, base: "str | Server", token: str):
        self._base = base
        self.token = token
        self.s = requests.Session()
        self.s.headers["X-Auth-Token"] = token
        # A server may close a kept-alive connection after refusing a request whose body it
        # did not read (an upload refused up front); like real clients, retry an idempotent
        # request that finds its pooled connection closed. Statuses are never retried.
        retry = Retry(total=2, connect=2, read=2, status=0, other=0, redirect=0,
                      allowed_methods=frozenset({"GET", "HEAD"}),
                      raise_on_status=False)
        adapter = requests.adapters.HTTPAdapter(max_retries=retry)
        self.s.mount("http://", adapter)

    @property
    def url(self) -> str:
        """Base URL for the next request (the next node when `base` is a cluster)."""
        return self._base.url if isinstance(self._base, Server) else self._base

    def req(self, method, path, **kw):
        kw.setdefault("timeout", 60)
        return self.s.request(method, self.url + path, **kw)

    def get(self, path, **kw):
        return self.req("GET", path, **kw)

    def post(self, path, **kw):
        return self.req("POST", path, **kw)

    def put(self, path, **kw):
        return self.req("PUT", path, **kw)

    def patch(self, path, ops, content_type="application/openstack-images-v2.1-json-patch",
              **kw):
        headers = {"Content-Type": content_type, **kw.pop("headers", {})}
        data = ops if isinstance(ops, (bytes, str)) else json.dumps(ops)
        return self.req("PATCH", path, data=data, headers=headers, **kw)

    def delete(self, path, **kw):
        return self.req("DELETE", path, **kw)

    # convenience
    def create(self, **body) -> dict:
        r = self.post("/v2/images", json=body)
        assert r.status_code == 201, (r.status_code, r.text)
        return r.json()

    def upload(self, image_id: str, data: bytes):
        r = self.put(f"/v2/images/{image_id}/file", data=data,
                     headers={"Content-Type": "application/octet-stream"})
        assert r.status_code == 204, (r.status_code, r.text)

    def show(self, image_id: str) -> dict:
        r = self.get(f"/v2/images/{image_id}")
        assert r.status_code == 200, (r.status_code, r.text)
        return r.json()

    def list_all(self, **params) -> list[dict]:
        """Follow `next` links; returns every image."""
        out, path = [], "/v2/images"
        params = dict(params)
        for _ in range(1000):
            r = self.get(path, params=params)
            assert r.status_code == 200, (r.status_code, r.text)
            body = r.json()
            out.extend(body["images"])
            nxt = body.get("next")
            if not nxt:
                return out
            path, params = nxt, None
        raise AssertionError("pagination did not terminate")


# --------------------------------------------------------------------------------------------
# output parsing for the glance CLI (prettytable)


def parse_table(out: str) -> list[list[str]]:
    rows = []
    for line in out.splitlines():
        line = line.strip()
        if not line.startswith("|"):
            continue
        rows.append([c.strip() for c in line.strip("|").split("|")])
    return rows


def parse_show(out: str) -> dict:
    """`glance image-show` style 'Property | Value' table -> dict (multi-line values joined)."""
    rows = parse_table(out)
    d, last = {}, None
    for row in rows[1:]:  # skip header
        if len(row) < 2:
            continue
        k, v = row[0], row[1]
        if k:
            d[k] = v
            last = k
        elif last:
            d[last] += v
    return d


def parse_list(out: str) -> list[dict]:
    rows = parse_table(out)
    if not rows:
        return []
    header = rows[0]
    return [dict(zip(header, r)) for r in rows[1:]]


# --------------------------------------------------------------------------------------------
# data


def random_image_bytes(size: int, seed: int | None = None) -> bytes:
    """Random bytes that no format inspector mistakes for a real disk format: the first
    sector is a plain text header (no MBR 0x55AA signature, no qcow/vmdk/vhd magic)."""
    data = bytearray(os.urandom(size))
    header = b"TESSERA-TEST-IMAGE " + uuid.uuid4().hex.encode()
    head = header.ljust(min(512, size), b".")[:min(512, size)]
    data[: len(head)] = head
    return bytes(data)


def digests(data: bytes) -> tuple[str, str]:
    return hashlib.md5(data).hexdigest(), hashlib.sha512(data).hexdigest()


# --------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="session")
def server():
    srv = Server(os.environ.get("TESSERA_URL") or None)
    srv.start()
    try:
        yield srv
    finally:
        if not srv.external:
            srv.stop(signal.SIGTERM)
            if os.environ.get("TESSERA_KEEP_DATA"):
                print(f"tessera data kept in {srv.tmp}")
            elif srv.tmp:
                shutil.rmtree(srv.tmp, ignore_errors=True)
        if KEYSTONE_STARTED:
            ks.keystone("stop")


@pytest.fixture(scope="session")
def base_url(server) -> str:
    return server.url


@pytest.fixture(scope="session")
def run_id() -> str:
    """Unique per pytest session: names, tags and properties carry it so that runs against a
    long-lived external server do not see each other's images."""
    return "t" + uuid.uuid4().hex[:10]


@pytest.fixture
def alice(server) -> Api:
    return server.session(ALICE)


@pytest.fixture
def bob(server) -> Api:
    return server.session(BOB)


@pytest.fixture
def admin(server) -> Api:
    return server.session(ADMIN)


@pytest.fixture
def cleanup(server):
    """Register image ids to delete (as admin) after the test, whatever state they are in."""
    ids: list[str] = []
    yield ids
    adm = server.session(ADMIN)
    for image_id in ids:
        try:
            r = adm.get(f"/v2/images/{image_id}")
            if r.status_code != 200:
                continue
            img = r.json()
            if img.get("protected"):
                adm.patch(f"/v2/images/{image_id}",
                          [{"op": "replace", "path": "/protected", "value": False}])
            if img.get("status") == "deactivated":
                adm.post(f"/v2/images/{image_id}/actions/reactivate")
            adm.delete(f"/v2/images/{image_id}")
        except requests.RequestException:
            pass


@pytest.fixture(scope="session")
def files(tmp_path_factory):
    """A few image files: small (3 MiB, random) and multi-chunk (5 MiB + 123 bytes)."""
    d = tmp_path_factory.mktemp("images")
    out = {}
    for name, size in (("small", 3 * MiB), ("big", 5 * MiB + 123), ("tiny", 4096)):
        data = random_image_bytes(size)
        p = d / f"{name}.raw"
        p.write_bytes(data)
        out[name] = (p, data)
    return out
