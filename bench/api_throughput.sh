#!/usr/bin/env bash
# Upload and download throughput of one image through a single Tessera node's API, next to
# the machine's own baseline on the same file in the same run: `md5sum` + `sha512sum` (the
# hashes Glance computes on upload) and a plain `cat` of the cached file.
# Usage: bench/api_throughput.sh [SIZE_MIB]   (default 1024). Needs a release build.
set -euo pipefail
SIZE_MIB=${1:-1024}
BIN=${TESSERA_BIN:-$(dirname "$0")/../target/release/tessera}
WORK=$(mktemp -d "${BENCH_DIR:-/tmp}/tessera-bench.XXXXXX")
PORT=${PORT:-19292}
URL=http://127.0.0.1:$PORT
TOKEN=bench:bench:admin,member,reader
cleanup() { [ -n "${PID:-}" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

now() { date +%s.%N; }
rate() { awk -v mib="$SIZE_MIB" -v t="$1" 'BEGIN { printf "%.1f", mib * 1.048576 / t }'; }

head -c $((SIZE_MIB * 1024 * 1024)) /dev/urandom > "$WORK/image"
cat "$WORK/image" > /dev/null   # warm the page cache for every contender alike

t0=$(now); cat "$WORK/image" > /dev/null; t1=$(now)
cat_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
t0=$(now); md5sum "$WORK/image" > "$WORK/md5"; sha512sum "$WORK/image" > "$WORK/sha512"; t1=$(now)
hash_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')

"$BIN" serve --data-dir "$WORK/data" --listen "127.0.0.1:$PORT" > "$WORK/node.log" 2>&1 &
PID=$!
for _ in $(seq 100); do curl -sf "$URL/healthcheck" > /dev/null && break; sleep 0.1; done

id=$(curl -sf -X POST "$URL/v2/images" -H "x-auth-token: $TOKEN" -H 'content-type: application/json' \
  -d '{"name": "bench", "disk_format": "raw", "container_format": "bare"}' |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')

t0=$(now)
curl -sf -X PUT "$URL/v2/images/$id/file" -H "x-auth-token: $TOKEN" \
  -H 'content-type: application/octet-stream' -T "$WORK/image" > /dev/null
t1=$(now)
up_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')

t0=$(now)
curl -sf "$URL/v2/images/$id/file" -H "x-auth-token: $TOKEN" -o /dev/null
t1=$(now)
down_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')

show=$(curl -sf "$URL/v2/images/$id" -H "x-auth-token: $TOKEN")
md5_api=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["checksum"])' "$show")
[ "$md5_api" = "$(cut -d' ' -f1 "$WORK/md5")" ] || { echo "checksum mismatch" >&2; exit 1; }

hash_rate=$(rate "$hash_s")
cat <<OUT
image: $SIZE_MIB MiB, single node, data dir on $(df -P "$WORK" | awk 'NR==2 {print $1}')
baseline cat (page cache):     $(rate "$cat_s") MB/s
baseline md5sum + sha512sum:   $hash_rate MB/s
tessera upload (PUT /file):    $(rate "$up_s") MB/s  (x$(awk -v a="$hash_s" -v b="$up_s" 'BEGIN { printf "%.2f", a / b }') of md5sum+sha512sum)
tessera download (GET /file):  $(rate "$down_s") MB/s  (x$(awk -v a="$hash_s" -v b="$down_s" 'BEGIN { printf "%.2f", a / b }') of md5sum+sha512sum)
OUT
