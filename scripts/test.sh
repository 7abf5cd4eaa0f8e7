#!/usr/bin/env bash
# Quick start, command two: install what is missing, build, and run the whole test suite.
#
#   bash scripts/test.sh [STAGE...]     STAGE: unit, e2e, dashboard, schemas, fuzz
#
# With no argument it runs every stage in that order (what .ci/run does). Setup and the build
# always run first. Stages:
#   unit       flowrun validate and flowrun test on the bundled flows and examples, then ctest
#   e2e        the service end to end: the inngest npm SDK, the Debian package, tests/e2e
#   dashboard  the dashboard in headless Chromium
#   schemas    yaml-language-server reads the flow schema
#   fuzz       every libFuzzer target for FLOWRUN_FUZZ_SECONDS (default 20) each
set -euo pipefail
ALL_STAGES=(unit e2e dashboard schemas fuzz)
stages=("$@")
((${#stages[@]})) || stages=("${ALL_STAGES[@]}")
for stage in "${stages[@]}"; do
  [[ " ${ALL_STAGES[*]} " == *" $stage "* ]] || {
    echo "test.sh: unknown stage '$stage' (stages: ${ALL_STAGES[*]})" >&2
    exit 2
  }
done
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
TEST_PACKAGES=(clang libclang-rt-14-dev python3 python3-aiosmtpd python3-jsonschema python3-yaml)
# The action tests start a private PostgreSQL 15 server and make TLS certificates with openssl.
TEST_PACKAGES+=(postgresql-15 openssl)
# The package test builds the .deb (dpkg-dev), checks the unit offline (systemd) and installs it
# into an empty root, where the postinst runs systemd-sysusers and deb-systemd-helper.
TEST_PACKAGES+=(dpkg-dev binutils systemd init-system-helpers)
install_missing_packages "${FLOWRUN_PACKAGES[@]}" "${TEST_PACKAGES[@]}"
build_flowrun "$BUILD_DIR"
cd "$ROOT"

# Static checks of the bundled flows, then every unit and integration test.
stage_unit() {
  echo "== flowrun validate flows examples"
  "$BUILD_DIR/flowrun" validate flows examples

  echo "== flowrun test: the test files of the bundled flows and examples"
  "$BUILD_DIR/flowrun" test flows examples --coverage

  echo "== unit and integration tests"
  ctest --test-dir "$BUILD_DIR" --output-on-failure -j2 --timeout 300
}

# The service end to end, with real peers.
stage_e2e() {
  echo "== the inngest npm SDK (inngest.send) against flowrun serve"
  command -v npm >/dev/null || install_missing_packages nodejs npm
  mkdir -p "$BUILD_DIR/inngest-node"
  cp tests/inngest/package.json tests/inngest/package-lock.json "$BUILD_DIR/inngest-node/"
  (cd "$BUILD_DIR/inngest-node" && npm ci --silent --no-audit --no-fund >/dev/null)
  FLOWRUN_BIN="$BUILD_DIR/flowrun" INNGEST_NODE_MODULES="$BUILD_DIR/inngest-node/node_modules" \
    timeout 120 node tests/inngest/inngest_sdk_test.mjs

  echo "== the Debian package: dpkg-deb, systemd-analyze verify and security, install into an empty root"
  timeout 300 bash tests/package/package_test.sh

  echo "== end-to-end tests: flowrun serve against fake APIs, aiosmtpd and SQLite, plus the crash test"
  install_missing_packages python3 python3-aiosmtpd
  FLOWRUN_BIN="$BUILD_DIR/flowrun" timeout 600 /usr/bin/python3 tests/e2e/run_all.py
}

# The dashboard in a real browser.
stage_dashboard() {
  echo "== dashboard in headless Chromium (Debian's chromium, chromium-driver and python3-selenium)"
  install_missing_packages chromium chromium-driver python3-selenium
  FLOWRUN_BIN="$BUILD_DIR/flowrun" DASHBOARD_SCREENSHOT="$BUILD_DIR/dashboard-screenshot.png" \
    timeout 180 /usr/bin/python3 tests/dashboard/dashboard_test.py
}

# The flow schema in an editor's language server.
stage_schemas() {
  echo "== yaml-language-server reads the flow schema"
  command -v npm >/dev/null || install_missing_packages nodejs npm
  # An exact version with a lockfile (tests/schemas/yaml-language-server), checked on Debian 12's Node 18.
  mkdir -p "$BUILD_DIR/node"
  cp tests/schemas/yaml-language-server/package.json tests/schemas/yaml-language-server/package-lock.json \
    "$BUILD_DIR/node/"
  (cd "$BUILD_DIR/node" && npm ci --silent --no-audit --no-fund >/dev/null)
  YAML_LANGUAGE_SERVER_DIR="$BUILD_DIR/node/node_modules" sh tests/schemas/yaml_language_server_test.sh
}

# Short fuzzing of every target (bench/fuzz.sh runs them for longer).
stage_fuzz() {
  echo "== fuzzers, ${FLOWRUN_FUZZ_SECONDS:-20} s each"
  FUZZ_DIR="$BUILD_DIR-fuzz"
  CC=clang CXX=clang++ build_flowrun "$FUZZ_DIR" -DFLOWRUN_FUZZERS=ON \
    -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link,address,undefined"
  fuzz_passed=0
  fuzz_failed=0
  for fuzzer in "$FUZZ_DIR"/fuzz/*_fuzzer; do
    name=$(basename "$fuzzer" _fuzzer)
    corpus_seed="$ROOT/tests/fuzz/corpus/$name"
    corpus_work="$FUZZ_DIR/corpus/$name"
    mkdir -p "$corpus_work"
    if "$fuzzer" -max_total_time="${FLOWRUN_FUZZ_SECONDS:-20}" -timeout=5 -rss_limit_mb=2048 \
        -artifact_prefix="$FUZZ_DIR/" "$corpus_work" "$corpus_seed" >"$FUZZ_DIR/$name.log" 2>&1; then
      echo "fuzzer $name: ok"
      fuzz_passed=$((fuzz_passed + 1))
    else
      echo "fuzzer $name: FAILED"
      tail -40 "$FUZZ_DIR/$name.log"
      fuzz_failed=$((fuzz_failed + 1))
    fi
  done
  echo "fuzzers: $fuzz_passed passed, $fuzz_failed failed"
  [ "$fuzz_failed" = 0 ]
}

for stage in "${stages[@]}"; do
  "stage_$stage"
done
