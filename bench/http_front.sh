#!/usr/bin/env bash
# The HTTP front benchmark (bench/http_front.cc), side by side with a baseline build.
#
#   bash bench/http_front.sh [BASELINE_COMMIT [http_front flags]]
#
# Builds this checkout's flowrun and http_front, and BASELINE_COMMIT's flowrun (default 7419fe0,
# the last commit with the cpp-httplib server) in a temporary git worktree, then prints the table.
set -euo pipefail
export FLOWRUN_BUILD_TYPE=Release
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/setup.sh"
install_missing_packages wrk
BASELINE="${1:-7419fe0}"
shift || true
FLOWRUN_BUILD_TARGET=flowrun build_flowrun "$BUILD_DIR" >/dev/null
FLOWRUN_BUILD_TARGET=http_front build_flowrun "$BUILD_DIR" >/dev/null
BASE_DIR=$(mktemp -d)
trap 'git -C "$ROOT" worktree remove --force "$BASE_DIR/src" >/dev/null 2>&1 || true; rm -rf "$BASE_DIR"' EXIT
git -C "$ROOT" worktree add --detach "$BASE_DIR/src" "$BASELINE" >/dev/null 2>&1
(cd "$BASE_DIR/src" && ROOT="$BASE_DIR/src" FLOWRUN_BUILD_TARGET=flowrun \
  bash -c 'source scripts/setup.sh && build_flowrun "$0"' "$BASE_DIR/build" >/dev/null)
echo "http_front on $(nproc) cores, $(date -u +%Y-%m-%dT%H:%M:%SZ), load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "columns: this build ($(git -C "$ROOT" rev-parse --short HEAD)) and baseline ($BASELINE)"
"$BUILD_DIR/bench/http_front" --flowrun "$BUILD_DIR/flowrun" --baseline "$BASE_DIR/build/flowrun" "$@"
