"""The public API over HTTPS (`--tls-cert`/`--tls-key`) with the real clients, a CA made here
and passed as `--os-cacert`; version links behind a proxy; certificate reload on SIGHUP.
Needs a self-started node (skipped against an external server)."""
import datetime
import ipaddress
import signal
import socket
import ssl
import subprocess
import time

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from conftest import ADMIN, Server, _clean_env, _free_port, random_image_bytes, VENV_BIN


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _ca():
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(_name("test CA")).issuer_name(_name("test CA"))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


def _leaf(ca_key, ca_cert, path_prefix):
    """A server certificate for 127.0.0.1 and localhost; writes <prefix>.pem and .key."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(_name("localhost"))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem, key_path = path_prefix.with_suffix(".pem"), path_prefix.with_suffix(".key")
    pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert, pem, key_path


def _served_cert(port, cafile):
    ctx = ssl.create_default_context(cafile=str(cafile))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        with ctx.wrap_socket(sock, server_hostname="127.0.0.1") as tls:
            return tls.getpeercert(binary_form=True)


@pytest.fixture
def https_node(server, tmp_path, monkeypatch):
    if server.external:
        pytest.skip("needs a self-started node (TESSERA_URL is set)")
    ca_key, ca_cert = _ca()
    ca = tmp_path / "ca.pem"
    ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert, pem, key = _leaf(ca_key, ca_cert, tmp_path / "api")
    # The fixture's own readiness checks go through requests: trust the test CA there.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca))
    node = Server(None, ("--tls-cert", str(pem), "--tls-key", str(key)))
    node.tmp = tmp_path / "node"
    node.tmp.mkdir()
    node.data_dir = node.tmp / "data"
    node.data_dir.mkdir()
    node.port = _free_port()
    node.url = f"https://127.0.0.1:{node.port}"
    node.start()
    node.ca, node.ca_key, node.ca_cert, node.cert, node.pem, node.key = (
        ca, ca_key, ca_cert, cert, pem, key)
    yield node
    node.stop()


def test_glanceclient_and_openstacksdk_over_https(https_node, run_id):
    node = https_node
    data = random_image_bytes(300_000)
    path = node.tmp / "image.raw"
    path.write_bytes(data)
    out = node.glance("--os-cacert", str(node.ca), "image-create", "--name", f"{run_id}-https",
                      "--disk-format", "raw", "--container-format", "bare", "--file", str(path),
                      token=ADMIN).stdout
    assert "active" in out, out
    # The SDK discovers /v2 from the version document: its links must say https.
    import openstack
    conn = openstack.connect(auth_type="admin_token",
                             auth={"endpoint": node.url, "token": ADMIN},
                             image_endpoint_override=node.url, cacert=str(node.ca),
                             load_yaml_config=False, load_envvars=False)
    images = [i for i in conn.image.images() if i.name == f"{run_id}-https"]
    assert len(images) == 1
    got = conn.image.download_image(images[0])
    assert bytes(got.content if hasattr(got, "content") else got) == data
    conn.image.delete_image(images[0])
    # Without the CA (nor the fixture's REQUESTS_CA_BUNDLE) the client refuses the server.
    cmd = [str(VENV_BIN / "glance"), "--os-image-url", node.url, "--os-auth-token", ADMIN,
           "image-list"]
    env = {k: v for k, v in _clean_env().items() if k != "REQUESTS_CA_BUNDLE"}
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert p.returncode != 0, p.stdout
    assert "certificate" in (p.stderr + p.stdout).lower(), p.stderr
    # Plain HTTP to the HTTPS port gets no API answer.
    with pytest.raises(requests.RequestException):
        requests.get(f"http://127.0.0.1:{node.port}/versions", timeout=5)


def test_version_links_over_https_and_behind_a_proxy(https_node):
    node = https_node
    port = node.port
    doc = requests.get(node.url + "/versions", verify=str(node.ca), timeout=10).json()
    hrefs = {link["href"] for v in doc["versions"] for link in v["links"]}
    assert hrefs == {f"https://127.0.0.1:{port}/v2/"}
    forwarded = {"X-Forwarded-Proto": "http", "X-Forwarded-Host": "images.example.com"}
    # By default (as Glance's enable_proxy_headers_parsing) a client cannot pick the links.
    doc = requests.get(node.url + "/", verify=str(node.ca), timeout=10, headers=forwarded)
    hrefs = {link["href"] for v in doc.json()["versions"] for link in v["links"]}
    assert hrefs == {f"https://127.0.0.1:{port}/v2/"}
    cfg = node.tmp / "proxy.toml"
    cfg.write_text("[api]\nenable_proxy_headers_parsing = true\n")
    node.args += ["--config", str(cfg)]
    node.restart()
    proxied = requests.get(node.url + "/", verify=str(node.ca), timeout=10, headers=forwarded)
    assert proxied.status_code == 300
    hrefs = {link["href"] for v in proxied.json()["versions"] for link in v["links"]}
    assert hrefs == {"http://images.example.com/v2/"}
    # --public-endpoint wins over everything.
    node.args += ["--public-endpoint", "https://cloud.example.com/image/"]
    node.restart()
    doc = requests.get(node.url + "/versions", verify=str(node.ca), timeout=10, headers={
        "X-Forwarded-Host": "images.example.com"}).json()
    hrefs = {link["href"] for v in doc["versions"] for link in v["links"]}
    assert hrefs == {"https://cloud.example.com/image/v2/"}


def test_a_renewed_certificate_is_served_after_sighup(https_node):
    node = https_node
    der = lambda c: c.public_bytes(serialization.Encoding.DER)  # noqa: E731
    assert _served_cert(node.port, node.ca) == der(node.cert)
    renewed, _, _ = _leaf(node.ca_key, node.ca_cert, node.pem.with_suffix(""))
    # A broken pair is refused and the current certificate kept.
    good_key = node.key.read_bytes()
    node.key.write_bytes(b"not a key")
    node.proc.send_signal(signal.SIGHUP)
    time.sleep(1)
    assert node.proc.poll() is None
    assert _served_cert(node.port, node.ca) == der(node.cert)
    assert "API certificate not reloaded" in node.log_tail(20000)
    node.key.write_bytes(good_key)
    node.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while _served_cert(node.port, node.ca) != der(renewed):
        assert time.monotonic() < deadline, node.log_tail()
        time.sleep(0.2)
    assert requests.get(node.url + "/healthcheck", verify=str(node.ca), timeout=10).ok
