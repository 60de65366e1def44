"""glance-download without Keystone: the request is checked and accepted as Glance does, and
the task fails because a noauth caller has no service catalog to find the remote region in
(Glance's context has none either); the image is left queued. The method against a real
Keystone and a second node is tests/keystone/test_glance_download.py.
"""
import time
import uuid

import pytest

from conftest import ALICE, KEYSTONE, Server


@pytest.fixture(scope="module")
def gd_node(tmp_path_factory, server):
    if server.external or KEYSTONE:
        pytest.skip("needs a self-started noauth node with its own configuration")
    cfg = tmp_path_factory.mktemp("gdl") / "node.toml"
    cfg.write_text('enabled_import_methods = ["glance-direct", "glance-download"]\n')
    node = Server(None, ("--config", str(cfg)))
    node.start()
    yield node
    node.stop()


def test_without_a_catalog_the_task_fails_and_the_image_stays_queued(gd_node):
    api = gd_node.session(ALICE)
    assert api.get("/v2/info/import").json()["import-methods"]["value"] == [
        "glance-direct", "glance-download"]
    img = api.create(name="gd", disk_format="raw", container_format="bare")
    bad = api.post(f"/v2/images/{img['id']}/import",
                   json={"method": {"name": "glance-download", "glance_region": "RegionOne"}})
    assert bad.status_code == 400
    assert "'glance_image_id' needs to be set for glance-download import method" in bad.text
    r = api.post(f"/v2/images/{img['id']}/import", json={"method": {
        "name": "glance-download", "glance_region": "RegionOne",
        "glance_image_id": str(uuid.uuid4())}})
    assert r.status_code == 202, r.text
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        tasks = api.get(f"/v2/images/{img['id']}/tasks").json()["tasks"]
        if tasks and tasks[0]["status"] == "failure":
            break
        time.sleep(0.2)
    assert tasks[0]["status"] == "failure", tasks
    assert tasks[0]["message"].startswith("No service catalog came with the request")
    shown = api.show(img["id"])
    assert shown["status"] == "queued" and "os_glance_import_task" not in shown
