"""Summarizes one Tempest run (its stestr subunit v2 stream) as Markdown: per test class the
tests passed, failed and skipped, each skip's reason, each failure's error, the total and the
wall time. Runs with the Tempest venv's Python (it has python-subunit and testtools).

Usage: summary.py RESULTS.subunit [--tempest-secs N] [--total-secs N] [--commit C]
                  [--failures FILE]   (full tracebacks of the failures go to FILE)
"""
from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict

import subunit
import testtools

# Areas recognised in a test's id; everything else is images, data, members, tags, schemas
# and versions. Tessera claims those and the areas of CLAIMED_TOO.
AREAS = [("metadefs", re.compile(r"metadef|\.(Namespaces|Objects|Properties|RSTypes|Tags)Project")),
         ("cache", re.compile(r"cach", re.I)),
         ("locations", re.compile(r"location", re.I)),
         ("import", re.compile(r"import", re.I)),
         ("stores", re.compile(r"multistore|store", re.I)),
         ("tasks", re.compile(r"task", re.I))]
CLAIMED = "images"
CLAIMED_TOO = {"metadefs"}
OUTCOME = {"success": "passed", "xfail": "passed", "fail": "failed", "uxsuccess": "failed",
           "skip": "skipped"}


def split_id(test_id: str) -> tuple[str, str]:
    """(class, test) of a Tempest id; class fixtures read `setUpClass (module.Class)`."""
    fixture = re.match(r"(\w+) \((.+)\)$", test_id)
    if fixture:
        return fixture.group(2), fixture.group(1)
    bare = re.sub(r"\[.*\]$", "", test_id)
    cls, _, name = bare.rpartition(".")
    return cls, name


def area(test_id: str) -> str:
    return next((name for name, rx in AREAS if rx.search(test_id)), CLAIMED)


def short_class(cls: str) -> str:
    for prefix in ("tempest.api.image.", "glance_tempest_plugin.tests."):
        if cls.startswith(prefix):
            return cls[len(prefix):]
    return cls


def detail(test: dict, name: str) -> str:
    content = test["details"].get(name)
    return content.as_text() if content is not None else ""


def failing_line(traceback: str, name: str) -> str:
    """Where in the test itself it failed: `file:line: code`, or '' if no frame is the test's."""
    frames = re.findall(r'File "([^"]+)", line (\d+), in (\w+)\n\s*(.*)', traceback)
    own = [f for f in frames if f[2] == name]
    if not own:
        return ""
    path, line, _, code = own[-1]
    return f"at {path.rsplit('site-packages/', 1)[-1]}:{line}: {code.strip()}"


def error_lines(traceback: str, keep: int = 4) -> list[str]:
    """The exception at the end of a traceback: its first `keep` lines."""
    lines = [line.strip() for line in traceback.rstrip().splitlines()]
    start = max((i for i, line in enumerate(lines)
                 if re.match(r"^[\w.]+(Error|Exception|Forbidden|NotFound|Conflict|"
                             r"BadRequest|Unauthorized|Failure|Timeout)\b.*", line)
                 or line.startswith(("testtools.matchers", "AssertionError",
                                     "tempest.lib.exceptions", "MismatchError"))),
                default=max(len(lines) - keep, 0))
    return [line if len(line) <= 300 else line[:300] + " ..."
            for line in lines[start:start + keep] if line]


def load(path: str) -> list[dict]:
    tests: list[dict] = []
    with open(path, "rb") as stream:
        case = subunit.ByteStreamToStreamResult(stream, non_subunit_name="stdout")
        result = testtools.StreamToDict(tests.append)
        result.startTestRun()
        case.run(result)
        result.stopTestRun()
    return [t for t in tests if t["status"] in OUTCOME]


def minutes(secs: int | None) -> str:
    return "n/a" if secs is None else f"{secs // 60} min {secs % 60:02d} s ({secs} s)"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("subunit")
    ap.add_argument("--tempest-secs", type=int)
    ap.add_argument("--total-secs", type=int)
    ap.add_argument("--commit", default="")
    ap.add_argument("--failures")
    args = ap.parse_args()
    tests = sorted(load(args.subunit), key=lambda t: t["id"])

    per_class: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for t in tests:
        per_class[split_id(t["id"])[0]][OUTCOME[t["status"]]] += 1
    total = defaultdict(int)
    for t in tests:
        total[OUTCOME[t["status"]]] += 1
    claimed_failed = [t for t in tests if OUTCOME[t["status"]] == "failed"
                      and (area(t["id"]) == CLAIMED or area(t["id"]) in CLAIMED_TOO)]

    w = sys.stdout.write
    w("# Tempest conformance: Tessera, 3-node cluster, Keystone mode\n\n")
    w(f"Tempest 47.0.0 + glance-tempest-plugin 0.17.0, `make conformance`"
      f"{f' at {args.commit}' if args.commit else ''}, one run, no retries.\n\n")
    w(f"- Total: {len(tests)} results, {total['passed']} passed, {total['failed']} failed, "
      f"{total['skipped']} skipped (a class skipped or failing in its fixture counts once)\n")
    w(f"- Failed in the areas Tessera claims (images, data, members, tags, schemas, versions, "
      f"image RBAC, metadefs): {len(claimed_failed)}\n")
    w(f"- Wall time: Tempest {minutes(args.tempest_secs)}; whole run (Keystone, cluster, "
      f"Tempest) {minutes(args.total_secs)}\n\n")

    w("| Class | Area | Passed | Failed | Skipped |\n|---|---|---:|---:|---:|\n")
    for cls in sorted(per_class):
        c = per_class[cls]
        w(f"| {short_class(cls)} | {area(cls)} | {c['passed']} | {c['failed']} | "
          f"{c['skipped']} |\n")
    w(f"| **total** | | **{total['passed']}** | **{total['failed']}** | "
      f"**{total['skipped']}** |\n")

    skipped = [t for t in tests if OUTCOME[t["status"]] == "skipped"]
    if skipped:
        w("\n## Skipped, and why\n\n")
        for t in skipped:
            cls, name = split_id(t["id"])
            reason = " ".join(detail(t, "reason").split()) or "(no reason given)"
            w(f"- {short_class(cls)}.{name}: {reason}\n")

    failed = [t for t in tests if OUTCOME[t["status"]] == "failed"]
    if failed:
        w("\n## Failed\n\n")
        for t in sorted(failed, key=lambda t: (area(t["id"]) != CLAIMED, t["id"])):
            cls, name = split_id(t["id"])
            w(f"- [{area(t['id'])}] {short_class(cls)}.{name}\n")
            where = failing_line(detail(t, "traceback"), name)
            for line in ([where] if where else []) + error_lines(detail(t, "traceback")):
                w(f"  > {line}\n")
    if args.failures:
        with open(args.failures, "w") as f:
            for t in failed:
                f.write(f"=== {t['id']}\n{detail(t, 'traceback')}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
