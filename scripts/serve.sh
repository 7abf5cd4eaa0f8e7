#!/usr/bin/env bash
# Quick start, command one: install what is missing, build, and serve the bundled flows on the
# embedded store (flowrun.yaml at the project root: loopback only, database `app` in app.db,
# whose tables come from flows/app.sql).
# Extra arguments go to `flowrun serve` (for example --listen 127.0.0.1:9000).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
install_missing_packages "${FLOWRUN_PACKAGES[@]}"
FLOWRUN_BUILD_TARGET=flowrun build_flowrun
cd "$ROOT"
"$BUILD_DIR/flowrun" validate flows/
# The app database the bundled flows use: its tables, created when missing (flows/app.sql).
sqlite3 app.db < flows/app.sql
exec "$BUILD_DIR/flowrun" serve --config flowrun.yaml "$@"
