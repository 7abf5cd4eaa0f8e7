#!/usr/bin/env bash
# Quick start, command one: install what is missing, build, and run flowrun on the bundled flows.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
install_missing_packages "${FLOWRUN_PACKAGES[@]}"
build_flowrun
cd "$ROOT"
exec "$BUILD_DIR/flowrun" validate flows/ "$@"
