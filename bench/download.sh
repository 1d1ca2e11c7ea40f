#!/usr/bin/env bash
# Download benchmarks against the standalone fake server on loopback, each side by side with a
# baseline in the same run:
#   1. one ~1 GiB series: tcia download (download + extract + MD5 verify) vs
#      curl -o x.zip && unzip && md5sum -c, and vs curl -o alone (the transfer bound);
#   2. 300 small series: tcia download --jobs 8 (with MD5) vs xargs -P8 curl (no extraction,
#      no verification);
#   3. peak RSS of tcia for both.
#   bash bench/download.sh           # RUNS=3 by default
#   ONLY=small bash bench/download.sh   # only the 300-series case (ONLY=big: only the 1 GiB one)
#   BASELINE=/path/to/older/tcia bash bench/download.sh   # and an older build, side by side
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-3}"
PORT_BIG="${PORT_BIG:-18781}"
PORT_SMALL="${PORT_SMALL:-18782}"
for tool in curl unzip md5sum xargs /usr/bin/time jq; do
  command -v "$tool" >/dev/null || { echo "bench needs $tool" >&2; exit 1; }
done
cargo build --release --locked -p tcia -p fake-nbia >&2
TCIA="$PWD/target/release/tcia"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tcia-bench.XXXXXX")
target/release/fake-nbia --port "$PORT_BIG" --bulk-series 300 --image-bytes 3600000 >/dev/null &
P1=$!
target/release/fake-nbia --port "$PORT_SMALL" --bulk-series 300 --image-bytes 10240 >/dev/null &
P2=$!
trap 'kill $P1 $P2 2>/dev/null || true; rm -rf "$WORK"' EXIT
BIG="http://127.0.0.1:$PORT_BIG"; SMALL="http://127.0.0.1:$PORT_SMALL"
for u in "$BIG" "$SMALL"; do
  for _ in $(seq 50); do curl -s -o /dev/null "$u/nbia-api/services/v4/getCollectionValues" && break; sleep 0.1; done
done
API=nbia-api/services/v4
UID_BIG=$(curl -s "$BIG/$API/getSeries?Collection=Bulk-Synthetic" | jq -r 'max_by(.ImageCount) | .SeriesInstanceUID')
SIZE_BIG=$(curl -s "$BIG/$API/getSeries?SeriesInstanceUID=$UID_BIG" | jq -r '.[0].FileSize')
curl -s "$SMALL/$API/getSeries?Collection=Bulk-Synthetic" | jq -r '.[].SeriesInstanceUID' > "$WORK/small.txt"
SIZE_SMALL=$(curl -s "$SMALL/$API/getSeries?Collection=Bulk-Synthetic" | jq '[.[].FileSize] | add')
echo "# big series: $UID_BIG, $SIZE_BIG bytes uncompressed"
echo "# small series: $(wc -l < "$WORK/small.txt") series, $SIZE_SMALL bytes uncompressed"
echo "# $(nproc) cores, $(uname -sr), $(date -u +%Y-%m-%d)"

. bench/lib.sh

results="$WORK/results"
: > "$results"
# Every run writes into fresh directories and nothing is deleted until the end: on ext4,
# creating files right after deleting tens of thousands is much slower, for every tool alike.
for i in $(seq "$RUNS"); do
  R="$WORK/run$i"; mkdir -p "$R/z"; sync
  if [ "${ONLY:-}" != small ]; then
  measure big:tcia "$TCIA" download "$UID_BIG" -o "$R/t" --server "$BIG" -q >>"$results"
  if [ -n "${BASELINE:-}" ]; then
    measure big:before "$BASELINE" download "$UID_BIG" -o "$R/tb" --server "$BIG" -q >>"$results"
    rm -rf "$R/tb"
  fi
  measure big:curl+unzip+md5sum sh -c "curl -s -o '$R/x.zip' '$BIG/$API/getImage?SeriesInstanceUID=$UID_BIG&NewFileNames=Yes&IncludeMD5=yes' && unzip -q '$R/x.zip' -d '$R/p' && cd '$R/p' && tail -n +2 md5hashes.csv | awk -F, '{print tolower(\$2) \"  \" \$1}' | md5sum -c --quiet" >>"$results"
  measure big:curl-only curl -s -o "$R/y.zip" "$BIG/$API/getImage?SeriesInstanceUID=$UID_BIG&NewFileNames=Yes&IncludeMD5=yes" >>"$results"
  fi
  if [ "${ONLY:-}" != big ]; then
  measure small:tcia-jobs8 "$TCIA" download -i "$WORK/small.txt" -o "$R/s" --jobs 8 --server "$SMALL" -q >>"$results"
  if [ -n "${BASELINE:-}" ]; then
    measure small:before-jobs8 "$BASELINE" download -i "$WORK/small.txt" -o "$R/sb" --jobs 8 --server "$SMALL" -q >>"$results"
  fi
  measure small:xargs-P8-curl sh -c "xargs -P8 -I{} curl -s -o '$R/z/{}.zip' '$SMALL/$API/getImage?SeriesInstanceUID={}&NewFileNames=Yes&IncludeMD5=yes' < '$WORK/small.txt'" >>"$results"
  fi
  # Free the space of big files at once (few inodes), keep the many small files to the end.
  rm -f "$R/x.zip" "$R/y.zip"
done
echo
table "$results" big:tcia big:before big:curl+unzip+md5sum big:curl-only small:tcia-jobs8 small:before-jobs8 small:xargs-P8-curl
echo
echo "raw: $(tr '\n' ';' <"$results")"
