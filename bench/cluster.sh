#!/usr/bin/env bash
# Cluster figures on this machine, each next to its baseline in the same run:
#   - upload/download MB/s of one image through a 3-node R=3 cluster vs a single node;
#   - time from kill -9 of the leader until a write is accepted again;
#   - time for a new (4th) node to catch up with the leader's applied index.
# Usage: bench/cluster.sh [SIZE_MIB] (default 1024). Needs release builds of tessera and testbed.
set -euo pipefail
SIZE_MIB=${1:-1024}
target=${CARGO_TARGET_DIR:-$(dirname "$0")/../target}
TB=$target/release/testbed
WORK=$(mktemp -d "${BENCH_DIR:-/tmp}/tessera-cluster-bench.XXXXXX")
TOKEN=bench:bench:admin,member,reader
cleanup() {
  for d in "$WORK"/c1 "$WORK"/c3; do "$TB" down --dir "$d" >/dev/null 2>&1 || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
rate() { awk -v mib="$SIZE_MIB" -v t="$1" 'BEGIN { printf "%.1f", mib * 1.048576 / t }'; }
api() { python3 -c 'import json, sys; c = json.load(open(sys.argv[1])); print("http://" + c["nodes"][int(sys.argv[2])]["api"])' "$1/cluster.json" "$2"; }
create() {
  curl -sf -X POST "$1/v2/images" -H "x-auth-token: $TOKEN" -H 'content-type: application/json' \
    -d "{\"name\": \"$2\", \"disk_format\": \"raw\", \"container_format\": \"bare\"}" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])'
}
status() { curl -sf "$1/tessera/v1/cluster" -H "x-auth-token: $TOKEN"; }

head -c $((SIZE_MIB * 1024 * 1024)) /dev/urandom > "$WORK/image"

transfer() { # DIR UP_NODE DOWN_NODE -> "up_s down_s"
  local up down id t0 up_s
  up=$(api "$1" "$2"); down=$(api "$1" "$3")
  id=$(create "$up" bench)
  t0=$(now)
  curl -sf -X PUT "$up/v2/images/$id/file" -H "x-auth-token: $TOKEN" \
    -H 'content-type: application/octet-stream' -T "$WORK/image" >/dev/null
  up_s=$(since "$t0")
  t0=$(now)
  curl -sf "$down/v2/images/$id/file" -H "x-auth-token: $TOKEN" -o /dev/null
  echo "$up_s $(since "$t0")"
}

"$TB" up --nodes 1 --dir "$WORK/c1" >/dev/null
read -r s_up s_down < <(transfer "$WORK/c1" 0 0)
"$TB" down --dir "$WORK/c1" >/dev/null

"$TB" up --nodes 3 --dir "$WORK/c3" --serve-arg=--snapshot-logs=100 >/dev/null
read -r c_up c_down < <(transfer "$WORK/c3" 0 2)

# Failover: kill -9 the leader, then time until a create succeeds on another node.
n1=$(api "$WORK/c3" 0)
leader=$(status "$n1" | python3 -c 'import json, sys; print(json.load(sys.stdin)["node"]["leader_id"])')
other=$(( leader == 1 ? 1 : 0 ))
target_api=$(api "$WORK/c3" "$other")
"$TB" kill --dir "$WORK/c3" "n$leader"
t0=$(now)
until create "$target_api" after-failover >/dev/null 2>&1; do sleep 0.02; done
failover_s=$(since "$t0")
"$TB" start --dir "$WORK/c3" "n$leader" >/dev/null

# Catch-up: 300 metadata writes (3 snapshot intervals), then a 4th node joins; time until it applied them all.
for i in $(seq 300); do create "$target_api" "bulk-$i" >/dev/null; done
t0=$(now)
"$TB" add --dir "$WORK/c3" >/dev/null
n4=$(api "$WORK/c3" 3)
goal=$(status "$target_api" | python3 -c 'import json, sys; print(json.load(sys.stdin)["node"]["last_applied"])')
until [ "$(status "$n4" | python3 -c 'import json, sys; print(json.load(sys.stdin)["node"]["last_applied"] or 0)')" -ge "$goal" ]; do sleep 0.05; done
catchup_s=$(since "$t0")

cat <<OUT
image: $SIZE_MIB MiB
single node upload:    $(rate "$s_up") MB/s   download: $(rate "$s_down") MB/s
3 nodes, R=3 upload:   $(rate "$c_up") MB/s   download: $(rate "$c_down") MB/s  (x$(awk -v a="$s_up" -v b="$c_up" 'BEGIN { printf "%.2f", a / b }') / x$(awk -v a="$s_down" -v b="$c_down" 'BEGIN { printf "%.2f", a / b }') of single node)
leader killed -> write accepted again: ${failover_s} s
4th node joined -> caught up with $goal log entries (snapshot + tail): ${catchup_s} s (includes process start)
OUT
