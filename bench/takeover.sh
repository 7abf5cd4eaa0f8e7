#!/usr/bin/env bash
# Takeover, measured: builds flowrun (Release, build-release) and runs bench/takeover.py, which
# SIGKILLs one of three nodes sharing a store again and again and prints the time until another
# node advances the dead node's runs (p50, max), on PostgreSQL and on one SQLite file.
#   [FLOWRUN_BIN=build/flowrun] bench/takeover.sh [--store postgres|sqlite|both] [--kills 20] [--takeover-after 5s]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/setup.sh"
install_missing_packages "${FLOWRUN_PACKAGES[@]}" python3 python3-aiosmtpd postgresql-15
# FLOWRUN_BIN set: that binary, no build.
if [[ -z "${FLOWRUN_BIN:-}" ]]; then
  FLOWRUN_BUILD_TARGET=flowrun build_flowrun "$ROOT/build-release" -DCMAKE_BUILD_TYPE=Release >/dev/null
  FLOWRUN_BIN="$ROOT/build-release/flowrun"
fi
FLOWRUN_BIN="$FLOWRUN_BIN" /usr/bin/python3 "$ROOT/bench/takeover.py" "$@"
