#!/usr/bin/env bash
# Long fuzzing: builds every libFuzzer target (tests/fuzz/*_fuzzer.cc, clang with ASan and UBSan)
# and runs each for SECONDS (default 3600, one hour), FLOWRUN_FUZZ_JOBS at a time (default 1: one
# after another), starting from the committed corpus (tests/fuzz/corpus/<name>) and keeping what it
# finds in build-fuzz/corpus. With several at a time they share the cores: the table's "CPU s"
# column says how much processor time each really had.
#
# Each fuzzer runs in libFuzzer's fork mode, so that a per-input timeout does not end the run:
# libFuzzer's -timeout is wall time, and on a loaded machine an input that takes milliseconds can
# wait seconds for a core. Every input that timed out is run again alone afterwards with a limit of
# 10 CPU seconds (ulimit -t); one that exceeds it is a real hang and fails the fuzzer. Crashes,
# sanitizer reports, leaks and out-of-memory end the run and fail it.
#
# Prints a markdown table; exits non-zero when a fuzzer found a crash, a hang or a leak (its
# input is saved as build-fuzz/<name>-crash-*, -timeout-*, -leak-* or -oom-*). Not part of CI:
# scripts/test.sh runs each fuzzer for 20 s.
#
#   bash bench/fuzz.sh [SECONDS [FUZZER...]]        e.g. bash bench/fuzz.sh 600 event_intake
#   FLOWRUN_FUZZ_MERGE=1 bash bench/fuzz.sh ...      also merges new coverage into the committed
#                                                    corpus (review and commit it)
#   FLOWRUN_FUZZ_JOBS=8 nice bash bench/fuzz.sh      all eight at once, for the same wall time
#   FLOWRUN_FUZZ_INPUT_TIMEOUT=S bash bench/fuzz.sh  sets the wall-time limit per input (seconds)
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

JOBS="${FLOWRUN_FUZZ_JOBS:-1}"
# libFuzzer's -timeout is wall time: with more fuzzers than cores each one waits its turn, so the
# limit for one input grows with the share of a core each fuzzer gets (10 s when it has a core).
UNIT_TIMEOUT="${FLOWRUN_FUZZ_INPUT_TIMEOUT:-$((10 * ((JOBS + $(nproc) - 1) / $(nproc))))}"
echo "fuzz.sh: ${#names[@]} fuzzers, ${SECONDS_EACH} s each, $JOBS at a time (input timeout ${UNIT_TIMEOUT} s)," \
  "$(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

# The CPU seconds one input may take when it runs again alone after a wall-time timeout.
HANG_CPU_SECONDS=10

# fuzz_one NAME: runs one fuzzer and writes its table row to $FUZZ_DIR/NAME.row; returns non-zero
# when the fuzzer found something.
fuzz_one() {
  local name="$1"
  local fuzzer="$FUZZ_DIR/fuzz/${name}_fuzzer"
  local seed="$ROOT/tests/fuzz/corpus/$name"
  local work="$FUZZ_DIR/corpus/$name"
  local log="$FUZZ_DIR/$name.long.log"
  mkdir -p "$work" "$seed"
  rm -f "$FUZZ_DIR/$name"-timeout-* "$FUZZ_DIR/$name"-slow-unit-*
  local seeds result=ok status=0
  seeds=$(find "$seed" -type f | wc -l)
  if ! "$fuzzer" -fork=1 -ignore_timeouts=1 -max_total_time="$SECONDS_EACH" \
      -timeout="$UNIT_TIMEOUT" -rss_limit_mb=2048 -artifact_prefix="$FUZZ_DIR/$name-" \
      "$work" "$seed" >"$log" 2>&1; then
    result="FAILED (see $log)"
    status=1
  fi
  # fuzz_one runs in a subshell of its own, so its children's CPU time is the fuzzer's. `times` is
  # a builtin: redirecting it does not fork (a command substitution would, and see no children).
  times >"$FUZZ_DIR/$name.times"
  local cpu
  cpu=$(cpu_seconds_of_children "$FUZZ_DIR/$name.times")
  # Fork mode's status lines: "#RUNS: cov: N ft: N corp: N exec/s N oom/timeout/crash: O/T/C ...".
  local last runs per_second coverage timeouts corpus
  last=$(grep -E '^#[0-9]+: cov:' "$log" | tail -1)
  runs=$(sed -E 's/^#([0-9]+):.*/\1/' <<<"$last")
  per_second=$(grep -oE 'exec/s [0-9]+' <<<"$last" | grep -oE '[0-9]+$' || true)
  coverage=$(grep -oE 'cov: [0-9]+' <<<"$last" | grep -oE '[0-9]+$' || true)
  timeouts=$(grep -oE 'oom/timeout/crash: [0-9]+/[0-9]+' <<<"$last" | grep -oE '[0-9]+$' || true)
  corpus=$(find "$work" -type f | wc -l)
  if ((${timeouts:-0} > 0)) && ((status == 0)); then
    local hangs slowest
    read -r hangs slowest < <(rerun_timeouts "$name")
    if ((hangs > 0)); then
      result="FAILED: $hangs input(s) over ${HANG_CPU_SECONDS} CPU s alone (see $FUZZ_DIR/$name-timeout-*)"
      status=1
    else
      result="ok ($timeouts wall-time timeouts under load; alone each input took at most ${slowest} ms)"
    fi
  fi
  echo "| $name | $SECONDS_EACH | $cpu | ${runs:-0} | ${per_second:-0} |" \
    "$seeds -> $((seeds + corpus)) | ${coverage:-0} | $result |" >"$FUZZ_DIR/$name.row"
  if [ "${FLOWRUN_FUZZ_MERGE:-0}" = 1 ]; then
    "$fuzzer" -merge=1 "$seed" "$work" >>"$log" 2>&1 || true
  fi
  return "$status"
}

# rerun_timeouts NAME: runs each input that timed out again, alone, with HANG_CPU_SECONDS of CPU
# (a limit on processor time, which a loaded machine does not eat into). Prints how many exceeded
# it, and the slowest wall time in ms of those that did not.
rerun_timeouts() {
  local name="$1" hangs=0 slowest=0 input started elapsed
  for input in "$FUZZ_DIR/$name"-timeout-*; do
    [ -e "$input" ] || continue
    started=$(date +%s%N)
    if (ulimit -t "$HANG_CPU_SECONDS" && "$FUZZ_DIR/fuzz/${name}_fuzzer" "$input") >/dev/null 2>&1; then
      elapsed=$((($(date +%s%N) - started) / 1000000))
      ((elapsed > slowest)) && slowest=$elapsed
    else
      hangs=$((hangs + 1))
    fi
  done
  echo "$hangs $slowest"
}

# The user + system CPU seconds on the second line (children) of bash's `times` output in FILE.
cpu_seconds_of_children() {
  sed -n 2p "$1" | awk '{
    total = 0
    for (i = 1; i <= 2; i++) { split($i, t, "m"); sub("s", "", t[2]); total += t[1] * 60 + t[2] }
    printf "%d\n", total
  }'
}

for name in "${names[@]}"; do
  while (($(jobs -rp | wc -l) >= JOBS)); do wait -n || true; done
  rm -f "$FUZZ_DIR/$name.row"
  fuzz_one "$name" &
done
wait

failed=0

echo "| fuzzer | seconds | CPU s | executions | exec/s | corpus (seed -> end) | coverage | result |"
echo "| --- | ---: | ---: | ---: | ---: | --- | ---: | --- |"
for name in "${names[@]}"; do
  cat "$FUZZ_DIR/$name.row"
  grep -q "| ok[ |]" "$FUZZ_DIR/$name.row" || failed=$((failed + 1))
done
echo
echo "fuzzers: $((${#names[@]} - failed)) passed, $failed failed"
[ "$failed" = 0 ]
