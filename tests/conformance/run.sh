#!/usr/bin/env bash
# `make conformance`: Tempest 47 and glance-tempest-plugin 0.17 against a 3-node Tessera
# cluster in Keystone mode, with the peer scripts of ../shared/peer/tempest (README.md there).
# Starts Keystone (unless it runs already) and the cluster, runs the suites once (no retries),
# writes target/conformance/summary.md, stops what it started. Exits with Tempest's status.
# Env: TESSERA_BIN, TESTBED_BIN, CONCURRENCY (2), RETRY_FAILED (0), PEER_DIR (/tmp/tessera-peer),
#      SUITE (all | tempest | plugin), OUT (target/conformance),
#      EXTRA_EXCLUDE (a regex of tests to leave out, e.g. '^(?!.*etadef)' runs only metadefs),
#      KEYSTONE=private: a Keystone of this run's own on KS_PORT (5001), started and stopped
#      here, for a machine where others restart the shared one (tests/keystone stops it).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
target=${CARGO_TARGET_DIR:-$repo/target}
tessera=${TESSERA_BIN:-$target/debug/tessera}
testbed=${TESTBED_BIN:-$target/debug/testbed}
peer=$repo/../shared/peer/tempest
export PEER_DIR=${PEER_DIR:-/tmp/tessera-peer}
out=${OUT:-$repo/target/conformance}

[ -x "$peer/tempest.sh" ] || { echo "conformance: $peer/tempest.sh is missing (needs ../shared/peer)" >&2; exit 2; }
for b in "$tessera" "$testbed"; do
  [ -x "$b" ] || { echo "conformance: $b is missing: build first (make build)" >&2; exit 2; }
done

started=$(date +%s)
rm -rf "$out" && mkdir -p "$out"
work=$(mktemp -d /tmp/tessera-conformance.XXXXXX)
shared_venv=$PEER_DIR/venv
if [ "${KEYSTONE:-shared}" = private ]; then
  # keystone.sh and tempest.sh keep their state under PEER_DIR: a private one that borrows
  # the installed venvs (Tempest's workspace is then private too; a missing venv is
  # installed there and goes away with the run).
  shared_peer=$PEER_DIR
  export PEER_DIR=$work/peer KS_PORT=${KS_PORT:-5001}
  mkdir -p "$PEER_DIR"
  for venv in venv-ks venv-tempest; do
    [ -d "$shared_peer/$venv" ] && ln -s "$shared_peer/$venv" "$PEER_DIR/$venv"
  done
fi
keystone_url=http://127.0.0.1:${KS_PORT:-5000}/v3
keystone_was_up=0
curl -sf "$keystone_url" >/dev/null && keystone_was_up=1

cleanup() {
  "$testbed" down --dir "$work/cluster" >/dev/null 2>&1 || true
  # The nodes' logs outlive the cluster: failures are read against them.
  mkdir -p "$out/nodes"
  for log in "$work"/cluster/n*/node.log; do
    [ -f "$log" ] && cp "$log" "$out/nodes/$(basename "$(dirname "$log")").log"
  done
  [ "$keystone_was_up" = 1 ] || bash "$peer/keystone.sh" stop || true
  rm -rf "$work"
}
trap cleanup EXIT

bash "$peer/keystone.sh" start
# The settings kept in the repo name the shared Keystone's port.
# The file store is one directory every node of this one-machine cluster shares.
sed -e "s#127.0.0.1:5000#127.0.0.1:${KS_PORT:-5000}#" -e "s#@WORK@#$work#" \
  "$here/node.toml" > "$work/node.toml"
sed "s#127.0.0.1:5000#127.0.0.1:${KS_PORT:-5000}#" "$here/tempest.conf" > "$work/tempest.conf"
# Nodes run on loopback addresses (--no-netns): a network namespace has its own loopback and
# cannot reach the Keystone listening on the host's 127.0.0.1:5000.
"$testbed" up --nodes 3 --dir "$work/cluster" --no-netns --binary "$tessera" \
  --serve-arg=--config="$work/node.toml" > "$out/cluster.json"
mapfile -t urls < <(python3 -c 'import json, sys
for n in json.load(open(sys.argv[1]))["nodes"]: print("http://" + n["api"])' "$out/cluster.json")
# Tempest's glance-download tests import from the catalog's image endpoint, the first node, on
# the loopback address the testbed picked: allowed for this test cluster only, so each node is
# restarted once on the config that names it.
hosts=$(python3 -c 'import json, sys
print(", ".join(sorted({chr(34) + n["api"].rsplit(":", 1)[0] + chr(34)
  for n in json.load(open(sys.argv[1]))["nodes"]})))' "$out/cluster.json")
sed -i "s#^allowed_hosts = \[#allowed_hosts = [$hosts, #" "$work/node.toml"
for n in n1 n2 n3; do
  "$testbed" kill --dir "$work/cluster" "$n" >/dev/null
  sleep 1
  "$testbed" start --dir "$work/cluster" "$n" >/dev/null
done
echo "conformance: cluster ${urls[*]}"
# The service user the nodes log in as, and the catalog's image endpoint (the first node).
"$PEER_DIR/venv-ks/bin/python" "$peer/register-image-endpoint.py" "${urls[0]}" "$keystone_url" >/dev/null

# Every node must accept a real token before Tempest spends minutes on it.
token=$(curl -sf -D - -o /dev/null -H 'Content-Type: application/json' "$keystone_url/auth/tokens" -d '{"auth":
  {"identity": {"methods": ["password"], "password": {"user": {"name": "admin",
   "domain": {"id": "default"}, "password": "secretadmin"}}},
   "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}' \
  | awk 'tolower($1) == "x-subject-token:" {print $2}' | tr -d '\r')
for u in "${urls[@]}"; do
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Auth-Token: $token" "$u/v2/images")
  [ "$code" = 200 ] || { echo "conformance: $u/v2/images with an admin token answered $code" >&2; exit 1; }
done

# As a Glance deployment (and the reference run: glance-start.sh runs db_load_metadefs), the
# cluster serves Glance's shipped metadef files; Tempest's metadef tests use their resource
# types. The files come with the Glance package of ../shared/peer/install.sh.
metadefs=$shared_venv/etc/glance/metadefs
[ -d "$metadefs" ] || PEER_DIR=$(dirname "$shared_venv") bash "$repo/../shared/peer/install.sh" >/dev/null
"$tessera" metadefs load "$metadefs" --url "${urls[0]}" --token "$token" >/dev/null

tempest_start=$(date +%s)
set +e
# No endpoint argument: tempest.sh would register it with the Keystone on port 5000; the
# catalog already points at the first node.
TEMPEST_CONF="$work/tempest.conf" RETRY_FAILED=${RETRY_FAILED:-0} CONCURRENCY=${CONCURRENCY:-2} \
  bash "$peer/tempest.sh" "" "${SUITE:-all}" 2>&1 | tee "$out/tempest.log"
rc=${PIPESTATUS[0]}
set -e
tempest_secs=$(( $(date +%s) - tempest_start ))
cp "$PEER_DIR/tempest/last-run.subunit" "$out/results.subunit"
"$PEER_DIR/venv-tempest/bin/python" "$here/summary.py" "$out/results.subunit" \
  --tempest-secs "$tempest_secs" --total-secs $(( $(date +%s) - started )) \
  --commit "$(git -C "$repo" rev-parse --short HEAD)" --failures "$out/failures.txt" > "$out/summary.md"
echo "conformance: $out/summary.md (Tempest rc=$rc)"
exit $rc
