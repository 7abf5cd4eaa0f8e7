#!/usr/bin/env bash
# W1-noop and W1-io on the PostgreSQL store, 1 and 3 nodes, and the cross-node wake-up: builds
# flowrun and the loopback sinks (bench/w1_sinks) in Release into build-release and runs
# bench/pg_bench.py against a throwaway PostgreSQL 15 server.
#   bench/pg_bench.sh [--events N] [--workload noop|io|slow|both|all] [--nodes 1,3] [--repeat N]
#                     [--waits N] [--statements] [--idle N] [--trickle N]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/setup.sh"
install_missing_packages "${FLOWRUN_PACKAGES[@]}" python3 postgresql-15
FLOWRUN_BUILD_TARGET=flowrun build_flowrun "$ROOT/build-release" -DCMAKE_BUILD_TYPE=Release >/dev/null
FLOWRUN_BUILD_TARGET=w1_sinks build_flowrun "$ROOT/build-release" -DCMAKE_BUILD_TYPE=Release >/dev/null
FLOWRUN_BIN="$ROOT/build-release/flowrun" /usr/bin/python3 "$ROOT/bench/pg_bench.py" "$@"
