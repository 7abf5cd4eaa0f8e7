#!/usr/bin/env bash
# W1 through the service: builds flowrun and the loopback sinks (bench/w1_sinks) in Release into
# build-release and runs bench/w1_bench.py.
#   bench/w1_bench.sh [--events N] [--variant noop|http-db-email|both|http|db|email] [--repeat N]
#                     [--workers N] [--sinks cpp|python]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/setup.sh"
install_missing_packages "${FLOWRUN_PACKAGES[@]}" python3
FLOWRUN_BUILD_TARGET=flowrun build_flowrun "$ROOT/build-release" -DCMAKE_BUILD_TYPE=Release >/dev/null
FLOWRUN_BUILD_TARGET=w1_sinks build_flowrun "$ROOT/build-release" -DCMAKE_BUILD_TYPE=Release >/dev/null
FLOWRUN_BIN="$ROOT/build-release/flowrun" /usr/bin/python3 "$ROOT/bench/w1_bench.py" "$@"
