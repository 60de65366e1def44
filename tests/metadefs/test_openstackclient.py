"""openstackclient's `image metadef ...` commands, unmodified, against every node of the
cluster in turn (Keystone-less: the `admin_token` plugin with a noauth token)."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from conftest import ADMIN, REPO

OPENSTACK = Path(os.environ.get("VENV", REPO / ".venv")) / "bin" / "openstack"


def osc(url: str, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    out = subprocess.run([str(OPENSTACK), "--os-auth-type", "admin_token", "--os-endpoint",
                          url + "/v2", "--os-token", ADMIN, "image", "metadef", *args],
                         capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, f"{args}: {out.stderr}"
    return out.stdout


def test_openstack_image_metadef_commands_on_every_node(tessera):
    n1, n2, n3 = tessera.urls
    ns = "tessera-osc"
    osc(n1, "namespace", "create", ns, "--public", "--description", "from osc")
    shown = json.loads(osc(n2, "namespace", "show", ns, "-f", "json"))
    assert shown["description"] == "from osc" and shown["visibility"] == "public"
    names = [n["namespace"] for n in json.loads(osc(n3, "namespace", "list", "-f", "json"))]
    assert ns in names and "OS::Compute::Watchdog" in names
    osc(n1, "namespace", "set", ns, "--display-name", "OSC")
    assert json.loads(osc(n2, "namespace", "show", ns, "-f", "json"))["display_name"] == "OSC"

    osc(n2, "property", "create", "--name", "speed", "--title", "Speed", "--type", "integer",
        "--schema", '{"minimum": 1}', ns)
    prop = json.loads(osc(n3, "property", "show", ns, "speed", "-f", "json"))
    assert prop["title"] == "Speed" and prop["minimum"] == 1
    listed = json.loads(osc(n1, "property", "list", ns, "-f", "json"))
    assert [p["name"] for p in listed] == ["speed"]
    osc(n1, "property", "set", ns, "speed", "--title", "Velocity")
    assert json.loads(osc(n2, "property", "show", ns, "speed", "-f", "json"))["title"] == \
        "Velocity"

    osc(n3, "object", "create", "--namespace", ns, "box")
    assert [o["name"] for o in json.loads(osc(n1, "object", "list", ns, "-f", "json"))] == \
        ["box"]
    assert json.loads(osc(n2, "object", "show", ns, "box", "-f", "json"))["name"] == "box"

    osc(n1, "resource", "type", "association", "create", ns, "OS::Nova::Flavor")
    assoc = json.loads(osc(n2, "resource", "type", "association", "list", ns, "-f", "json"))
    assert [a["Name"] for a in assoc] == ["OS::Nova::Flavor"]
    types = json.loads(osc(n3, "resource", "type", "list", "-f", "json"))
    assert "OS::Nova::Flavor" in [t["Name"] for t in types]
    osc(n1, "resource", "type", "association", "delete", ns, "OS::Nova::Flavor")

    osc(n2, "object", "delete", ns, "box")
    osc(n3, "property", "delete", ns, "speed")
    osc(n1, "namespace", "delete", ns)
    names = [n["namespace"] for n in json.loads(osc(n2, "namespace", "list", "-f", "json"))]
    assert ns not in names
