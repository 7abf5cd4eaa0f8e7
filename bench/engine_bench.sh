#!/usr/bin/env bash
# Engine benchmarks: (a) 3-step internal runs vs raw SQLite, (b) sleeping runs, (c) pending waits.
# Builds a Release engine_bench into build-release and prints markdown tables.
#
#   bash bench/engine_bench.sh [engine_bench flags]
#   (defaults: --runs 10000 --repeat 3 --sleepers 100000, waits 1,000 / 10,000 / 100,000)
set -euo pipefail
export FLOWRUN_BUILD_TYPE=Release
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/setup.sh"
# Only the benchmark and what it links, so unrelated targets do not slow or break the run.
FLOWRUN_BUILD_TARGET=engine_bench build_flowrun "$ROOT/build-release" -DCMAKE_BUILD_TYPE=Release \
  >/dev/null
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
echo "engine_bench on $(nproc) cores, $(date -u +%Y-%m-%dT%H:%M:%SZ), load: $(cut -d' ' -f1-3 /proc/loadavg)"
"$ROOT/build-release/bench/engine_bench" --dir "$DIR/bench" "$@"
