#!/usr/bin/env bash
# Quick start, command two: install what is missing, build, and run the whole test suite.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
TEST_PACKAGES=(clang python3 python3-aiosmtpd)
install_missing_packages "${FLOWRUN_PACKAGES[@]}" "${TEST_PACKAGES[@]}"
build_flowrun -DFLOWRUN_FUZZERS=ON
cd "$ROOT"

echo "== flowrun validate flows examples"
"$BUILD_DIR/flowrun" validate flows examples

echo "== unit and integration tests"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j2 --timeout 300

echo "== fuzzers (brief)"
for fuzzer in "$BUILD_DIR"/fuzz/*_fuzzer; do
  [ -x "$fuzzer" ] || continue
  corpus="$ROOT/tests/fuzz/corpus/$(basename "$fuzzer" _fuzzer)"
  "$fuzzer" -max_total_time="${FLOWRUN_FUZZ_SECONDS:-20}" -timeout=5 -rss_limit_mb=2048 \
    ${corpus:+$( [ -d "$corpus" ] && echo "$corpus")} >/dev/null 2>&1 \
    || { echo "fuzzer $(basename "$fuzzer") found a crash"; exit 1; }
  echo "fuzzer $(basename "$fuzzer"): ok"
done
