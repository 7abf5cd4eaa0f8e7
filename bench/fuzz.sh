#!/usr/bin/env bash
# Long fuzzing: builds every libFuzzer target (tests/fuzz/*_fuzzer.cc, clang with ASan and UBSan)
# and runs each for SECONDS (default 3600, one hour), one after another, starting from the
# committed corpus (tests/fuzz/corpus/<name>) and keeping what it finds in build-fuzz/corpus.
# Prints a markdown table; exits non-zero when a fuzzer found a crash, a hang or a leak (its
# input is saved as build-fuzz/<name>-crash-*). Not part of CI: scripts/test.sh runs each fuzzer
# for 20 s.
#
#   bash bench/fuzz.sh [SECONDS [FUZZER...]]        e.g. bash bench/fuzz.sh 600 event_intake
#   FLOWRUN_FUZZ_MERGE=1 bash bench/fuzz.sh ...      also merges new coverage into the committed
#                                                    corpus (review and commit it)
set -euo pipefail
SECONDS_EACH="${1:-3600}"
shift || true
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/setup.sh"
FUZZ_DIR="$ROOT/build-fuzz"
CC=clang CXX=clang++ build_flowrun "$FUZZ_DIR" -DFLOWRUN_FUZZERS=ON \
  -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link,address,undefined" >/dev/null

names=("$@")
if ((${#names[@]} == 0)); then
  for fuzzer in "$FUZZ_DIR"/fuzz/*_fuzzer; do names+=("$(basename "$fuzzer" _fuzzer)"); done
fi

echo "fuzz.sh: ${#names[@]} fuzzers, ${SECONDS_EACH} s each, $(date -u +%Y-%m-%dT%H:%M:%SZ)," \
  "$(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| fuzzer | seconds | executions | exec/s | corpus (seed -> end) | coverage | result |"
echo "| --- | ---: | ---: | ---: | --- | ---: | --- |"
failed=0
for name in "${names[@]}"; do
  fuzzer="$FUZZ_DIR/fuzz/${name}_fuzzer"
  seed="$ROOT/tests/fuzz/corpus/$name"
  work="$FUZZ_DIR/corpus/$name"
  log="$FUZZ_DIR/$name.long.log"
  mkdir -p "$work" "$seed"
  seeds=$(find "$seed" -type f | wc -l)
  result=ok
  if ! "$fuzzer" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$FUZZ_DIR/$name-" "$work" "$seed" >"$log" 2>&1; then
    result="FAILED (see $log)"
    failed=$((failed + 1))
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  per_second=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  coverage=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo 0)
  corpus=$(find "$work" -type f | wc -l)
  echo "| $name | $SECONDS_EACH | ${runs:-0} | ${per_second:-0} | $seeds -> $((seeds + corpus)) |" \
    "${coverage:-0} | $result |"
  if [ "${FLOWRUN_FUZZ_MERGE:-0}" = 1 ]; then
    "$fuzzer" -merge=1 "$seed" "$work" >>"$log" 2>&1 || true
  fi
done
echo
echo "fuzzers: $((${#names[@]} - failed)) passed, $failed failed"
[ "$failed" = 0 ]
