#!/usr/bin/env bash
# The fault soak's long mode: the CI test (tests/cli/soak.rs, 500 series, 5 kills) with more
# series, more kills and several seeds, in a release build.
#   SERIES=3000 KILLS=10 SEEDS="1 2" bash bench/soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SERIES=${SERIES:-3000}
KILLS=${KILLS:-10}
SEEDS=${SEEDS:-"1 2"}
for seed in $SEEDS; do
  echo "# seed $seed: $SERIES series, $KILLS kills" >&2
  TCIA_SOAK_SERIES=$SERIES TCIA_SOAK_KILLS=$KILLS TCIA_SOAK_SEED=$seed \
    cargo test --release --locked --test cli soak::fault_soak -- --nocapture 2>&1 |
    grep -E '^fault soak:|panicked|test result'
done
