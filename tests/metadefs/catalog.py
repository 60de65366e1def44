"""Reading a whole metadef catalog through the API, in a form two servers can be compared
in: times and links to the schema left out, lists in a stable order."""
from __future__ import annotations

from urllib.parse import quote

TIMES = ("created_at", "updated_at")


def strip(value):
    """The value without creation and update times, lists of named records sorted by name."""
    if isinstance(value, dict):
        return {k: strip(v) for k, v in value.items() if k not in TIMES}
    if isinstance(value, list):
        items = [strip(v) for v in value]
        if all(isinstance(v, dict) and "name" in v for v in items):
            items.sort(key=lambda v: v["name"])
        return items
    return value


def namespaces(server, query: str = "limit=7") -> list[dict]:
    """Every namespace, following `next` links (exercising markers)."""
    out, path = [], f"/v2/metadefs/namespaces?{query}"
    while path:
        page = server.get(path)
        out.extend(page["namespaces"])
        path = page.get("next")
    return out


def catalog(server, only: set[str] | None = None) -> dict:
    """Every namespace, object, property, tag and association, one by one and as listed."""
    out = {"resource_types": strip(server.get("/v2/metadefs/resource_types")["resource_types"])}
    for ns in namespaces(server):
        name = ns["namespace"]
        if only is not None and name not in only:
            continue
        base = f"/v2/metadefs/namespaces/{quote(name)}"
        objects = server.get(base + "/objects")["objects"]
        properties = server.get(base + "/properties")["properties"]
        tags = server.get(base + "/tags")["tags"]
        out[name] = strip({
            "listed": ns,
            "shown": server.get(base),
            "associations": server.get(base + "/resource_types"),
            "objects": objects,
            "object": {o["name"]: server.get(f"{base}/objects/{quote(o['name'])}")
                       for o in objects},
            "properties": properties,
            "property": {p: server.get(f"{base}/properties/{quote(p)}") for p in properties},
            "tags": tags,
            "tag": {t["name"]: server.get(f"{base}/tags/{quote(t['name'])}") for t in tags},
        })
    return out


def differences(a, b, path: str = "") -> list[str]:
    """Where `a` and `b` differ, field by field (at most a few hundred lines)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            if k not in a:
                out.append(f"{path}/{k}: only in second: {str(b[k])[:120]}")
            elif k not in b:
                out.append(f"{path}/{k}: only in first: {str(a[k])[:120]}")
            else:
                out.extend(differences(a[k], b[k], f"{path}/{k}"))
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{path}[{i}]")]
    return [] if a == b else [f"{path}: {str(a)[:120]} != {str(b)[:120]}"]
