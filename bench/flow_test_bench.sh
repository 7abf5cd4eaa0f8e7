#!/usr/bin/env bash
# Benchmark: `flowrun test` on the test files of the bundled flows and examples. Prints the
# number of cases, the whole run's wall time (median of RUNS) and the per-case times the report
# gives (median and slowest, over every case of every run).
#
#   bash bench/flow_test_bench.sh [RUNS]      (default 5)
#
# Uses the build directory of scripts/setup.sh (builds flowrun there if missing).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/setup.sh"
[ -x "$BUILD_DIR/flowrun" ] || FLOWRUN_BUILD_TARGET=flowrun build_flowrun
FLOWRUN="$BUILD_DIR/flowrun"
RUNS="${1:-5}"
cd "$ROOT"

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
for i in $(seq "$RUNS"); do
  start=$(date +%s%N)
  "$FLOWRUN" test flows examples --format json >"$WORK/run-$i.json" 2>/dev/null
  end=$(date +%s%N)
  echo $(((end - start) / 1000000)) >>"$WORK/wall.txt"
done

/usr/bin/python3 - "$WORK" "$RUNS" <<'PY'
import glob, json, statistics, sys
work, runs = sys.argv[1], int(sys.argv[2])
cases = []
for path in sorted(glob.glob(work + "/run-*.json")):
    report = json.load(open(path))
    cases += [c["duration_ms"] for f in report["files"] for c in f.get("cases", [])]
walls = [int(x) for x in open(work + "/wall.txt")]
per_run = len(cases) // runs
print("| `flowrun test flows examples` (median of %d runs) | value |" % runs)
print("| --- | ---: |")
print("| cases | %d |" % per_run)
print("| whole run, wall | %d ms |" % statistics.median(walls))
print("| one case, median | %.1f ms |" % statistics.median(cases))
print("| one case, 99th percentile | %.1f ms |" % sorted(cases)[int(len(cases) * 0.99) - 1])
print("| one case, slowest | %.1f ms |" % max(cases))
PY
