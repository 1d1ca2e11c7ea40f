#!/usr/bin/env bash
# Benchmark: the local index against the 500,000-series fake, side by side in one run.
#  - `tcia index update --full` vs `tcia series --format csv` for the same rows (wall, peak RSS),
#    and the index file's size vs the CSV's;
#  - `tcia series --offline --collection C` vs the same command live, for the collection nearest
#    1,000 series (mean of many runs);
#  - a GROUP BY over every series with `tcia query`; start-up (`tcia collections --offline`).
#
#   bash bench/index.sh                  # 500,000 bulk series, 3 runs of each build
#   ROWS=100000 RUNS=1 bash bench/index.sh
#   BEFORE=/tmp/tcia-main bash bench/index.sh   # also a baseline binary, interleaved, same run
#
# `index-update-full` rebuilds over an existing index (and counts the series added and
# removed against it); `index-build-fresh` builds from nothing (the index file removed first).
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS="${ROWS:-500000}"
RUNS="${RUNS:-3}"
PORT="${PORT:-18766}"
REPEAT="${REPEAT:-20}"
for tool in curl /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "bench needs $tool" >&2; exit 1; }
done
# NO_BUILD=1: use the binaries already in target/release (built beforehand).
[ -n "${NO_BUILD:-}" ] || cargo build --release --locked -p tcia -p fake-nbia >&2
TCIA=$PWD/target/release/tcia
target/release/fake-nbia --port "$PORT" --bulk-series "$ROWS" >/dev/null &
SERVER_PID=$!
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tcia-index-bench.XXXXXX")
trap 'kill $SERVER_PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
URL="http://127.0.0.1:$PORT"
for _ in $(seq 50); do curl -s -o /dev/null "$URL/nbia-api/services/v4/getCollectionValues" && break; sleep 0.1; done
# The fake's small collections have tens of series: release 1,000 more into one, so that one
# collection has about 1,000 series (the case the issue measures).
COLL="${COLL:-LIDC-IDRI}"
curl -s -o /dev/null -X POST -H 'content-type: application/json' \
  -d "{\"collection\": \"$COLL\", \"count\": 1000}" "$URL/__fake/release"
export TCIA_SERVER="$URL" TCIA_CACHE_DIR="$WORK/cache" TCIA_CONFIG_DIR="$WORK/config"
echo "# $(nproc) cores, $(uname -sr), $(date -u +%Y-%m-%d); fake with $ROWS bulk series"

. bench/lib.sh

BEFORE="${BEFORE:-}"
if [ -n "$BEFORE" ]; then echo "# before: $BEFORE"; fi
fresh() { rm -f "$WORK"/cache/index/*.sqlite; "$@"; }
results=$(mktemp)
for i in $(seq "$RUNS"); do
  measure "series-csv" "$TCIA" series --format csv >>"$results"
  if [ -n "$BEFORE" ]; then
    measure "before:index-update-full" "$BEFORE" index update --full -q >>"$results"
  fi
  measure "index-update-full" "$TCIA" index update --full -q >>"$results"
  if [ -n "$BEFORE" ]; then
    fresh measure "before:index-build-fresh" "$BEFORE" index update --full -q >>"$results"
  fi
  fresh measure "index-build-fresh" "$TCIA" index update --full -q >>"$results"
done
"$TCIA" series --format csv >"$WORK/all.csv"
# The steps of one more build from nothing (`-v` prints how long each took).
rm -f "$WORK"/cache/index/*.sqlite
PHASES=$("$TCIA" -v -q index update --full 2>&1 | sed -n 's/^tcia: index build: //p')
CSV_BYTES=$(wc -c <"$WORK/all.csv")
INDEX_FILE=$(ls "$WORK"/cache/index/*.sqlite)
INDEX_BYTES=$(wc -c <"$INDEX_FILE")
ROWS_IN=$("$TCIA" query "SELECT count(*) AS n FROM series" --format csv | tail -1 | tr -d "\r")
echo
table "$results" series-csv index-update-full before:index-update-full index-build-fresh before:index-build-fresh
echo
echo "steps of a build from nothing: $PHASES"
echo "rows in the index: $ROWS_IN; index file $INDEX_BYTES bytes, CSV $CSV_BYTES bytes ($(awk -v a="$INDEX_BYTES" -v b="$CSV_BYTES" 'BEGIN { printf "%.2f", a / b }')x)"

# mean wall milliseconds of REPEAT runs of a command
mean_ms() {
  local start end
  start=$(date +%s%N)
  for _ in $(seq "$REPEAT"); do "$@" >/dev/null; done
  end=$(date +%s%N)
  awk -v s="$start" -v e="$end" -v n="$REPEAT" 'BEGIN { printf "%.1f", (e - s) / n / 1e6 }'
}
N=$("$TCIA" query "SELECT count(*) FROM series WHERE Collection = '$COLL'" --format csv | tail -1 | tr -d "\r")
LIVE=$(mean_ms "$TCIA" series --collection "$COLL" --format csv)
OFF=$(mean_ms "$TCIA" series --offline --collection "$COLL" --format csv)
GROUP=$(REPEAT=3 mean_ms "$TCIA" query "SELECT Collection, Modality, count(*), sum(FileSize) FROM series GROUP BY 1, 2")
# The floor of an offline answer: the same command with a filter that matches nothing (process
# start-up, the runtime, SQLite's open and the query; no rows).
EMPTY=$(mean_ms "$TCIA" series --offline --collection "$COLL" --modality NO-SUCH-MODALITY --format csv)
START=$(mean_ms "$TCIA" collections --offline)
VERSION=$(mean_ms "$TCIA" --version)
echo
echo "| query ($REPEAT runs unless noted) | mean wall (ms) |"
echo "|---|---|"
echo "| tcia series --collection '$COLL' ($N series), live | $LIVE |"
echo "| tcia series --offline --collection '$COLL' | $OFF |"
if [ -n "$BEFORE" ]; then
  OFF_BEFORE=$(mean_ms "$BEFORE" series --offline --collection "$COLL" --format csv)
  LIVE2=$(mean_ms "$TCIA" series --collection "$COLL" --format csv)
  echo "| before: tcia series --offline --collection '$COLL' (the same index file) | $OFF_BEFORE |"
  echo "| tcia series --collection '$COLL', live, again | $LIVE2 |"
fi
echo "| tcia series --offline --collection '$COLL' --modality NO-SUCH-MODALITY (no rows: the floor) | $EMPTY |"
echo "| tcia query GROUP BY Collection, Modality over $ROWS_IN series (3 runs) | $GROUP |"
echo "| tcia collections --offline (start-up, warm cache) | $START |"
echo "| tcia --version (process start-up alone) | $VERSION |"
echo
echo "a quarter of the live answer: $(awk -v a="$LIVE" 'BEGIN { printf "%.2f", a / 4 }') ms"
echo "offline is $(awk -v a="$LIVE" -v b="$OFF" 'BEGIN { printf "%.1f", a / b }')x faster than live"
echo "raw: $(tr '\n' ';' <"$results")"
rm -f "$results"
