"""Glance's 32 shipped metadef files loaded into a 3-node cluster read back, through every
node and every list and show route, exactly as the real Glance serves them after its own
`glance-manage db_load_metadefs`; `tessera metadefs export` then `load` into an emptied
cluster gives the same catalog again."""
from __future__ import annotations

import json

from catalog import catalog, differences, namespaces
from conftest import tessera_cli


def test_loaded_catalog_matches_glance(tessera, glance, metadef_dir):
    files = {json.loads(f.read_text())["namespace"] for f in metadef_dir.glob("*.json")}
    ours, theirs = catalog(tessera, only=files), catalog(glance, only=files)
    assert set(ours) == set(theirs) == files | {"resource_types"}
    diff = differences(ours, theirs)
    assert not diff, "\n".join(diff[:60])


def test_schemas_match_glance(tessera, glance):
    for name in ["namespace", "namespaces", "object", "objects", "property", "properties",
                 "tag", "tags", "resource_type", "resource_types"]:
        path = f"/v2/schemas/metadefs/{name}"
        assert tessera.get(path) == glance.get(path), name


def test_listing_filters_and_pages_like_glance(tessera, glance):
    for query in ["limit=5&sort_key=namespace&sort_dir=asc",
                  "limit=3&sort_key=namespace&sort_dir=desc&resource_types=OS::Nova::Flavor",
                  "sort_key=namespace&sort_dir=asc&resource_types=OS::Cinder::Volume,OS::Nova::Server",
                  "sort_key=namespace&visibility=public&limit=100"]:
        ours = [n["namespace"] for n in namespaces(tessera, query)]
        theirs = [n["namespace"] for n in namespaces(glance, query)]
        assert ours == theirs, query


def test_export_then_load_into_an_empty_cluster_round_trips(tessera, cluster, tmp_path):
    before = catalog(tessera)
    url = tessera.urls[1]
    tessera_cli("export", str(tmp_path), url=url)
    assert len(list(tmp_path.glob("*.json"))) == len(before) - 1
    assert f"{len(before) - 1} namespaces unloaded" in tessera_cli("unload", url=url)
    assert tessera.get("/v2/metadefs/namespaces")["namespaces"] == []
    assert tessera.get("/v2/metadefs/resource_types")["resource_types"] == []
    out = tessera_cli("load", str(tmp_path), url=tessera.urls[2])
    assert out.count(" created") == len(before) - 1, out
    after = catalog(tessera)
    # A resource type no namespace uses is not in any file (Glance's export loses it too).
    used = {a["name"] for k, ns in before.items() if k != "resource_types"
            for a in ns["associations"]["resource_type_associations"]}
    before["resource_types"] = [t for t in before["resource_types"] if t["name"] in used]
    diff = differences(after, before)
    assert not diff, "\n".join(diff[:60])
    # Loading again changes nothing unless asked to merge.
    assert tessera_cli("load", str(tmp_path), url=url).count(" skipped") == len(before) - 1
