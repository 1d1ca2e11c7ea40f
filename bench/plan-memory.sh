#!/usr/bin/env bash
# Issue 9: peak RSS and time of `tcia download --dry-run` (flat and classic layouts, and the
# `--format ndjson` plan) and `tcia sync --dry-run` over a large selection (300,000 series by
# default), this build and a baseline build side by side in one run, against the standalone
# fake server on loopback. Each dry run's output must be identical to the baseline's.
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
SYNC=(sync --collection Bulk-Synthetic --dry-run -o "$WORK/sync" --server "$URL")
# case name, then the arguments after the binary
CASES=(
  "dry-run|${ARGS[*]}"
  "dry-run:classic|${ARGS[*]} --layout classic"
  "dry-run:ndjson|${ARGS[*]} --format ndjson"
  "sync-dry-run|${SYNC[*]}"
)
for _ in $(seq "$RUNS"); do
  for c in "${CASES[@]}"; do
    name=${c%%|*}; read -r -a args <<<"${c#*|}"
    measure "$name:tcia" "$TCIA" "${args[@]}" >>"$results"
    if [ -n "${BASELINE:-}" ]; then
      measure "$name:before" "$BASELINE" "${args[@]}" >>"$results"
    fi
  done
done
names=()
for c in "${CASES[@]}"; do
  name=${c%%|*}; read -r -a args <<<"${c#*|}"
  names+=("$name:tcia" "$name:before")
  [ -n "${BASELINE:-}" ] || continue
  "$TCIA" "${args[@]}" >"$WORK/a" 2>&1
  "$BASELINE" "${args[@]}" >"$WORK/b" 2>&1
  if cmp -s "$WORK/a" "$WORK/b"; then
    echo "# $name: output identical to the baseline's ($(md5sum < "$WORK/a" | cut -c1-32), $(wc -l < "$WORK/a") lines)"
  else
    echo "# $name: OUTPUT DIFFERS from the baseline's"
  fi
done
table "$results" "${names[@]}"
