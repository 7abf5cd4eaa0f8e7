#!/usr/bin/env bash
# Slow I/O through the service: builds flowrun and the loopback sinks (bench/w1_sinks) in Release
# into build-release and runs bench/slow_io.py.
#   bench/slow_io.sh [--workload all|w1-slow|slow-5s|parallel|foreach] [--events N] [--repeat N]
#                    [--smtp sink|aiosmtpd]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/setup.sh"
install_missing_packages "${FLOWRUN_PACKAGES[@]}" python3 python3-aiosmtpd
FLOWRUN_BUILD_TARGET=flowrun build_flowrun "$ROOT/build-release" -DCMAKE_BUILD_TYPE=Release >/dev/null
FLOWRUN_BUILD_TARGET=w1_sinks build_flowrun "$ROOT/build-release" -DCMAKE_BUILD_TYPE=Release >/dev/null
FLOWRUN_BIN="$ROOT/build-release/flowrun" /usr/bin/python3 "$ROOT/bench/slow_io.py" "$@"
