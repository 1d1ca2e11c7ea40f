#!/usr/bin/env bash
# Issue 9: peak RSS and time of `tcia download --dry-run` over a large selection (300,000
# series by default), this build and a baseline build side by side in one run, against the
# standalone fake server on loopback. The two dry runs' stderr must be identical.
#   BASELINE=/path/to/main/tcia bash bench/plan-memory.sh   # SERIES=300000 RUNS=3 by default
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-3}"
SERIES="${SERIES:-300000}"
PORT="${PORT:-18793}"
command -v /usr/bin/time >/dev/null || { echo "bench needs /usr/bin/time" >&2; exit 1; }
cargo build --release --locked -p tcia -p fake-nbia >&2
TCIA="$PWD/target/release/tcia"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tcia-plan.XXXXXX")
target/release/fake-nbia --port "$PORT" --bulk-series "$SERIES" >/dev/null &
P=$!
trap 'kill $P 2>/dev/null || true; rm -rf "$WORK"' EXIT
URL="http://127.0.0.1:$PORT"
for _ in $(seq 50); do curl -s -o /dev/null "$URL/nbia-api/services/v4/getCollectionValues" && break; sleep 0.1; done
echo "# tcia download --collection Bulk-Synthetic --dry-run: $SERIES series"
echo "# $(nproc) cores, $(uname -sr), $(date -u +%Y-%m-%d)"
. bench/lib.sh
results="$WORK/results"
: > "$results"
ARGS=(download --collection Bulk-Synthetic --dry-run -o "$WORK/out" --server "$URL")
for _ in $(seq "$RUNS"); do
  measure dry-run:tcia "$TCIA" "${ARGS[@]}" >>"$results"
  measure dry-run:classic:tcia "$TCIA" "${ARGS[@]}" --layout classic >>"$results"
  if [ -n "${BASELINE:-}" ]; then
    measure dry-run:before "$BASELINE" "${ARGS[@]}" >>"$results"
    measure dry-run:classic:before "$BASELINE" "${ARGS[@]}" --layout classic >>"$results"
  fi
done
if [ -n "${BASELINE:-}" ]; then
  for layout in flat classic; do
    "$TCIA" "${ARGS[@]}" --layout "$layout" 2>"$WORK/a" >/dev/null
    "$BASELINE" "${ARGS[@]}" --layout "$layout" 2>"$WORK/b" >/dev/null
    if cmp -s "$WORK/a" "$WORK/b"; then
      echo "# $layout: output identical to the baseline's ($(md5sum < "$WORK/a" | cut -c1-32), $(wc -l < "$WORK/a") lines)"
    else
      echo "# $layout: OUTPUT DIFFERS from the baseline's"
    fi
  done
fi
table "$results" dry-run:tcia dry-run:before dry-run:classic:tcia dry-run:classic:before
