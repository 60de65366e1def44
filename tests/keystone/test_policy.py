"""An operator's policy file in Keystone mode: its rules replace Glance's defaults by name,
a change is picked up without a restart, a broken change keeps the rules in force (and is
logged), and a broken file refuses to start, naming the rule and its line."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests

from conftest import Node

IMAGE = {"name": "policy-img", "disk_format": "raw", "container_format": "bare"}
# The node looks at the file at most once a second.
RELOAD = 2.5


def create(node, token):
    return requests.post(f"{node.url}/v2/images", json=IMAGE,
                         headers={"X-Auth-Token": token}, timeout=30)


def write(path: Path, text: str) -> None:
    # Written whole then renamed, so the node never reads half a file.
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)


@pytest.fixture(scope="module")
def policy_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("policy") / "policy.yaml"
    write(path, '"add_image": "role:admin"\n')
    return path


@pytest.fixture(scope="module")
def policy_node(identities, policy_file):
    n = Node(["--policy-file", str(policy_file)])
    yield n
    n.stop()


def test_the_file_overrides_a_default_and_changes_apply_live(policy_node, policy_file,
                                                             identities):
    alice, admin = identities.token("alice"), identities.token("admin")
    r = create(policy_node, alice)
    assert r.status_code == 403, r.text
    assert "You are not authorized to complete add_image action." in r.text
    assert create(policy_node, admin).status_code == 201
    # Rules the file does not name keep Glance's defaults.
    r = requests.get(f"{policy_node.url}/v2/images", headers={"X-Auth-Token": alice},
                     timeout=30)
    assert r.status_code == 200

    write(policy_file, '"add_image": "role:admin or role:member"\n')
    time.sleep(RELOAD)
    assert create(policy_node, alice).status_code == 201, "the change applies, no restart"

    write(policy_file, '"add_image": "role:admin and ("\n')
    time.sleep(RELOAD)
    assert create(policy_node, alice).status_code == 201, "a broken change is not applied"
    log = Path(policy_node.dir, "node.log").read_text()
    assert 'line 1: rule "add_image"' in log and "the rules in force are kept" in log

    write(policy_file, '"add_image": "!"\n')
    time.sleep(RELOAD)
    assert create(policy_node, admin).status_code == 403, "a good file after a bad applies"


def test_a_broken_file_refuses_to_start(identities, tmp_path):
    path = tmp_path / "policy.yaml"
    write(path, '# ops\n"get_image": ""\n"add_image": "role:admin or or role:member"\n')
    with pytest.raises(RuntimeError) as refused:
        Node(["--policy-file", str(path)])
    assert 'line 3: rule "add_image" at column 15' in str(refused.value)


def test_the_admin_api_follows_the_tessera_admin_rule(policy_node, policy_file, identities):
    alice, admin = identities.token("alice"), identities.token("admin")

    def cluster(token):
        return requests.get(f"{policy_node.url}/tessera/v1/workers",
                            headers={"X-Auth-Token": token}, timeout=30).status_code

    assert (cluster(alice), cluster(admin)) == (403, 200)
    # An operator hands the node's own admin API to another role, and takes it from admin.
    write(policy_file, '"tessera:admin": "role:member and not role:admin"\n')
    time.sleep(RELOAD)
    assert (cluster(alice), cluster(admin)) == (200, 403)
    write(policy_file, '"add_image": "role:admin"\n')
    time.sleep(RELOAD)
    assert (cluster(alice), cluster(admin)) == (403, 200)
