#!/usr/bin/env bash
# The real-client suite against a three-node testbed cluster, each request and each CLI
# command sent to the next node in turn.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
target=${CARGO_TARGET_DIR:-$here/../target}
work=$(mktemp -d /tmp/tessera-clients-cluster.XXXXXX)
cleanup() { "$target/debug/testbed" down --dir "$work/cluster" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
"$target/debug/testbed" up --nodes 3 --dir "$work/cluster" >/dev/null
urls=$(python3 -c 'import json, sys; print(",".join("http://" + n["api"] for n in json.load(open(sys.argv[1]))["nodes"]))' "$work/cluster/cluster.json")
echo "client suite against $urls"
TESSERA_URL=$urls "$here/../.venv/bin/pytest" -q "$here/clients" "$@"
