#!/usr/bin/env bash
# Benchmark: a 500,000-row getSeries response converted to CSV, tcia vs curl + jq, side by side
# against the standalone fake server on loopback. Prints wall time and peak RSS per run and the
# medians; paste the result into BENCHMARKS.md.
#
#   bash bench/series-csv.sh            # 500,000 rows, 3 runs each
#   ROWS=100000 RUNS=5 bash bench/series-csv.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS="${ROWS:-500000}"
RUNS="${RUNS:-3}"
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

measure() { # name, command...
  local name=$1; shift
  local log; log=$(mktemp)
  /usr/bin/time -v "$@" >/dev/null 2>"$log"
  local wall rss
  wall=$(grep "Elapsed (wall clock)" "$log" | awk '{print $NF}')
  rss=$(grep "Maximum resident set size" "$log" | awk '{print $NF}')
  rm -f "$log"
  # wall is m:ss.ss
  local secs; secs=$(echo "$wall" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
  echo "$name $secs $rss"
}

results=$(mktemp)
for i in $(seq "$RUNS"); do
  measure tcia "$TCIA" series --collection Bulk-Synthetic --format csv --server "$URL" >>"$results"
  measure curl-only curl -s -o /dev/null "$ENDPOINT" >>"$results"
  measure curl+jq sh -c "curl -s '$ENDPOINT' | jq -r '(.[0] | keys_unsorted) as \$k | \$k, (.[] | [.[\$k[]]]) | @csv'" >>"$results"
done
echo
echo "| tool | runs | median wall (s) | median peak RSS (MiB) |"
echo "|---|---|---|---|"
for name in tcia curl+jq curl-only; do
  walls=$(grep "^$name " "$results" | awk '{print $2}' | sort -n)
  rsss=$(grep "^$name " "$results" | awk '{print $3}' | sort -n)
  n=$(echo "$walls" | wc -l); m=$(( (n + 1) / 2 ))
  w=$(echo "$walls" | sed -n "${m}p"); r=$(echo "$rsss" | sed -n "${m}p")
  printf '| %s | %d | %.2f | %.1f |\n' "$name" "$n" "$w" "$(awk -v r="$r" 'BEGIN { print r / 1024 }')"
done
echo
echo "raw: $(tr '\n' ';' <"$results")"
rm -f "$results"
