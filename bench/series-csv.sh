#!/usr/bin/env bash
# Benchmark: a 500,000-row getSeries response converted to CSV, tcia vs curl + jq, side by side
# against the standalone fake server on loopback. Prints wall time and peak RSS per run and the
# medians; paste the result into BENCHMARKS.md.
#
#   bash bench/series-csv.sh            # 500,000 rows, 3 runs each
#   ROWS=100000 RUNS=5 bash bench/series-csv.sh
#   FORMATS="csv tsv json ndjson" bash bench/series-csv.sh   # tcia in each format (default csv)
#   BASELINE=/path/to/older/tcia bash bench/series-csv.sh    # and an older build, side by side
#   JQ=0 bash bench/series-csv.sh       # without the (slow) curl | jq baseline
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS="${ROWS:-500000}"
RUNS="${RUNS:-3}"
FORMATS="${FORMATS:-csv}"
BASELINE="${BASELINE:-}"
PORT="${PORT:-18765}"
for tool in curl jq /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "bench needs $tool" >&2; exit 1; }
done
cargo build --release --locked -p tcia -p fake-nbia >&2
TCIA=target/release/tcia
target/release/fake-nbia --port "$PORT" --bulk-series "$ROWS" >/dev/null &
SERVER_PID=$!
trap 'kill $SERVER_PID 2>/dev/null || true' EXIT
URL="http://127.0.0.1:$PORT"
for _ in $(seq 50); do curl -s -o /dev/null "$URL/nbia-api/services/v4/getCollectionValues" && break; sleep 0.1; done
ENDPOINT="$URL/nbia-api/services/v4/getSeries?Collection=Bulk-Synthetic"
BYTES=$(curl -s "$ENDPOINT" | wc -c)
echo "# getSeries Collection=Bulk-Synthetic: $ROWS rows, $BYTES bytes of JSON"
echo "# $(nproc) cores, $(uname -sr), $(date -u +%Y-%m-%d)"

. bench/lib.sh

results=$(mktemp)
names=""
for f in $FORMATS; do
  names="$names tcia:$f"
  if [ -n "$BASELINE" ]; then
    names="$names before:$f"
    # The outputs must be byte for byte the same.
    a=$("$TCIA" series --collection Bulk-Synthetic --format "$f" --server "$URL" | md5sum)
    b=$("$BASELINE" series --collection Bulk-Synthetic --format "$f" --server "$URL" | md5sum)
    if [ "$a" = "$b" ]; then echo "# $f: output identical to the baseline's ($a)"; else echo "# $f: OUTPUT DIFFERS from the baseline's"; fi
  fi
done
for i in $(seq "$RUNS"); do
  for f in $FORMATS; do
    measure "tcia:$f" "$TCIA" series --collection Bulk-Synthetic --format "$f" --server "$URL" >>"$results"
    if [ -n "$BASELINE" ]; then
      measure "before:$f" "$BASELINE" series --collection Bulk-Synthetic --format "$f" --server "$URL" >>"$results"
    fi
  done
  measure curl-only curl -s -o /dev/null "$ENDPOINT" >>"$results"
  [ "${JQ:-1}" = 0 ] || measure curl+jq sh -c "curl -s '$ENDPOINT' | jq -r '(.[0] | keys_unsorted) as \$k | \$k, (.[] | [.[\$k[]]]) | @csv'" >>"$results"
done
echo
# shellcheck disable=SC2086
table "$results" $names curl+jq curl-only
echo
echo "raw: $(tr '\n' ';' <"$results")"
rm -f "$results"
