#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks, then configures and builds flowrun.
# Sourced by serve.sh and test.sh; safe to run again (it only installs missing packages).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${FLOWRUN_BUILD_DIR:-$ROOT/build}"
BUILD_TYPE="${FLOWRUN_BUILD_TYPE:-Release}"
# Let ccache share objects between clones and build folders.
export CCACHE_BASEDIR="$ROOT" CCACHE_NOHASHDIR=1

# Packages needed to build and run flowrun. Test-only packages are added by test.sh.
FLOWRUN_PACKAGES=(
  g++ cmake ninja-build ccache pkg-config
  libyaml-dev nlohmann-json3-dev libvalijson-dev libcli11-dev libre2-dev
  libhowardhinnant-date-dev libcpp-httplib-dev libssl-dev libsqlite3-dev
  libcurl4-openssl-dev libpq-dev libjemalloc-dev libgtest-dev libgmock-dev libbenchmark-dev libboost-dev
  tzdata ca-certificates sqlite3
)

install_missing_packages() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  ((${#missing[@]})) || return 0
  echo "setup: installing ${missing[*]}"
  local sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# build_flowrun [BUILD_DIR [cmake args…]]: configures (once) and builds with Ninja, -j2.
build_flowrun() {
  local dir="${1:-$BUILD_DIR}"
  shift || true
  local launcher=()
  command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
  cmake -S "$ROOT" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE="$BUILD_TYPE" "${launcher[@]}" "$@" >/dev/null
  cmake --build "$dir" -j2 ${FLOWRUN_BUILD_TARGET:+--target "$FLOWRUN_BUILD_TARGET"}
}
