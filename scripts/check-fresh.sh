#!/usr/bin/env bash
# Runs the README's two commands the way a new user would: in a minimal Debian 12 root made with
# debootstrap (`--variant=minbase bookworm`), as root, inside a chroot.
#
#   bash scripts/check-fresh.sh [--new-base] [--keep]
#
# It is slow (a full build from nothing, the whole test suite, then the service) and is run by
# hand before resolving anything that touches setup; it is not part of CI. Needs root and
# debootstrap (installed when missing).
#
# What it carries over from this machine, and nothing else: the apt sources and the apt.conf.d
# files that set Acquire:: options (proxies, checks), the keyrings those sources name, the npm
# registry settings (/etc/npmrc, ~/.npmrc), the CA certificates (/etc/ssl/certs and
# /usr/local/share/ca-certificates), resolv.conf and hosts (to reach the registries at all), and
# the proxy variables if set. The project is a `git archive` of HEAD: uncommitted changes and build
# folders are not in it.
#
# Work folder: $FLOWRUN_FRESH_DIR (default /var/tmp/flowrun-check-fresh). The debootstrap result
# is kept there as base.tar (untouched by any run) and unpacked anew for every run; --new-base
# makes it again. The root of a run is removed at the next run, or at exit unless --keep is given.
# Logs: $FLOWRUN_FRESH_DIR/test.log and serve.log. Ends with a PASS/FAIL summary, and exits
# non-zero when any step failed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="${FLOWRUN_FRESH_DIR:-/var/tmp/flowrun-check-fresh}"
SERVE_TIMEOUT_S=1200 # serve.sh builds the binary again only if needed; the build is done by then
NEW_BASE=0
KEEP=0
for arg in "$@"; do
  case "$arg" in
    --new-base) NEW_BASE=1 ;;
    --keep) KEEP=1 ;;
    *) echo "usage: $0 [--new-base] [--keep]" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "check-fresh: run as root (debootstrap and chroot need it)" >&2; exit 2; }
case "$WORK/" in
  "$ROOT"/*) echo "check-fresh: FLOWRUN_FRESH_DIR must be outside the project" >&2; exit 2 ;;
esac

# The mirror for bookworm from this machine's apt sources (one-line or deb822 format).
apt_source_files() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && echo "$f"
  done
}
find_mirror() {
  local f
  while read -r f; do
    case "$f" in
      *.sources)
        awk 'BEGIN{RS=""; IGNORECASE=1}
             /(^|\n)Suites:[^\n]*[ \t]bookworm([ \t\n]|$)/ || /(^|\n)Suites:[ \t]*bookworm([ \t\n]|$)/ {
               if (match($0, /(^|\n)URIs:[ \t]*[^ \t\n]+/)) {
                 s = substr($0, RSTART, RLENGTH); sub(/^\n?URIs:[ \t]*/, "", s); print s; exit } }' "$f" ;;
      *) awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i !~ /\]$/) { url = $i; suite = $(i + 1); break }
                            if (suite == "bookworm") { print url; exit } }' "$f" ;;
    esac
  done < <(apt_source_files) | grep -v -- '-security' | head -1
}

command -v debootstrap >/dev/null || {
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap
}
MIRROR="$(find_mirror)"
[ -n "$MIRROR" ] || { echo "check-fresh: no bookworm mirror in this machine's apt sources" >&2; exit 2; }
mkdir -p "$WORK"
FRESH="$WORK/root"
STEPS=()
RESULTS=()
record() { STEPS+=("$1"); RESULTS+=("$2"); }

# Everything started inside the root is stopped (by process id) before its mounts are undone.
MOUNTS=()
cleanup() {
  local pid root_link
  for pid in $(ls /proc | grep -E '^[0-9]+$'); do
    root_link="$(readlink "/proc/$pid/root" 2>/dev/null || true)"
    case "$root_link" in "$FRESH" | "$FRESH"/*) kill -KILL "$pid" 2>/dev/null || true ;; esac
  done
  sleep 1
  local i
  for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
    umount "${MOUNTS[$i]}" 2>/dev/null || umount -l "${MOUNTS[$i]}" 2>/dev/null || true
  done
  MOUNTS=()
  if [ "$KEEP" = 0 ] && ! grep -q " $FRESH/" /proc/mounts; then rm -rf "$FRESH"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

started=$(date +%s)
elapsed() { echo "$(($(date +%s) - started)) s"; }

# 1. The base: debootstrap once, kept as a tarball, unpacked anew each run.
if [ "$NEW_BASE" = 1 ] || [ ! -f "$WORK/base.tar" ]; then
  echo "== debootstrap --variant=minbase bookworm from $MIRROR"
  rm -rf "$WORK/base-root" "$WORK/base.tar"
  if debootstrap --variant=minbase bookworm "$WORK/base-root" "$MIRROR" >"$WORK/debootstrap.log" 2>&1; then
    tar -C "$WORK/base-root" -cf "$WORK/base.tar.part" . && mv "$WORK/base.tar.part" "$WORK/base.tar"
    rm -rf "$WORK/base-root"
  else
    tail -30 "$WORK/debootstrap.log"
    echo "check-fresh: FAIL (debootstrap; log in $WORK/debootstrap.log)"
    exit 1
  fi
fi
if grep -q " $FRESH/" /proc/mounts; then
  echo "check-fresh: $FRESH still has mounts from an earlier run; unmount them first" >&2
  exit 2
fi
rm -rf "$FRESH"
mkdir -p "$FRESH"
tar -C "$FRESH" -xf "$WORK/base.tar"
echo "== fresh Debian 12 root in $FRESH ($(elapsed))"

# 2. Only this machine's apt, npm and CA settings, and name resolution.
install -d "$FRESH/etc/apt/sources.list.d" "$FRESH/etc/apt/apt.conf.d" "$FRESH/usr/share/keyrings"
rm -f "$FRESH/etc/apt/sources.list" "$FRESH"/etc/apt/sources.list.d/*
while read -r f; do
  cp "$f" "$FRESH$f"
  # The keyrings a source names (Signed-By / signed-by=) come along when the root lacks them.
  for key in $(grep -o -i -E 'signed-by[:=][ \t]*[^] \t]+' "$f" | sed -E 's/^[^:=]*[:=][ \t]*//'); do
    [ -f "$key" ] && [ ! -f "$FRESH$key" ] && install -D -m 644 "$key" "$FRESH$key"
  done
done < <(apt_source_files)
for f in /etc/apt/apt.conf.d/*; do
  [ -f "$f" ] && grep -q -i '^[[:space:]]*Acquire' "$f" && cp "$f" "$FRESH/etc/apt/apt.conf.d/"
done
[ -f /etc/apt/apt.conf ] && cp /etc/apt/apt.conf "$FRESH/etc/apt/apt.conf"
[ -f /etc/npmrc ] && cp /etc/npmrc "$FRESH/etc/npmrc"
[ -f "$HOME/.npmrc" ] && install -m 600 "$HOME/.npmrc" "$FRESH/root/.npmrc"
install -d "$FRESH/etc/ssl/certs" "$FRESH/usr/local/share/ca-certificates"
cp -a /etc/ssl/certs/. "$FRESH/etc/ssl/certs/"
[ -d /usr/local/share/ca-certificates ] && cp -a /usr/local/share/ca-certificates/. "$FRESH/usr/local/share/ca-certificates/"
cp -L /etc/resolv.conf "$FRESH/etc/resolv.conf"
cp /etc/hosts "$FRESH/etc/hosts"

# 3. The project: HEAD, as a clean archive (no build folders, no uncommitted changes).
PROJECT=/src/flowrun
mkdir -p "$FRESH$PROJECT"
git -C "$ROOT" archive --format=tar HEAD | tar -C "$FRESH$PROJECT" -xf -
echo "== project: $(git -C "$ROOT" log -1 --format='%h %s') (git archive of HEAD)"

# 4. The kernel file systems.
mount_in() { mount "$@" && MOUNTS+=("${@: -1}"); }
mount_in -t proc proc "$FRESH/proc"
mount_in -t sysfs sysfs "$FRESH/sys"
mount_in --bind /dev "$FRESH/dev"
mount_in --bind /dev/pts "$FRESH/dev/pts"
mount_in -t tmpfs -o mode=1777,nosuid,nodev shm "$FRESH/dev/shm"

ENV=(env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
     LANG=C.UTF-8 TERM=dumb)
for v in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
  [ -n "${!v:-}" ] && ENV+=("$v=${!v}")
done
in_root() { chroot "$FRESH" "${ENV[@]}" bash -c "cd $PROJECT && $1"; }

# 5. README command two: the whole test suite.
echo "== bash scripts/test.sh (log: $WORK/test.log)"
if in_root 'bash scripts/test.sh' >"$WORK/test.log" 2>&1; then
  record "bash scripts/test.sh" PASS
else
  record "bash scripts/test.sh" "FAIL (exit $?, in stage: $(grep -a '^== ' "$WORK/test.log" | tail -1 | cut -c4-60))"
fi
tail -25 "$WORK/test.log"
echo "   ($(elapsed))"

# 6. README command one: serve.sh starts, GET /healthz answers, SIGTERM stops it.
PORT=$(in_root "python3 -c 'import socket; s = socket.socket(); s.bind((\"127.0.0.1\", 0)); print(s.getsockname()[1])'" 2>/dev/null || echo 18288)
echo "== bash scripts/serve.sh --listen 127.0.0.1:$PORT (log: $WORK/serve.log)"
chroot "$FRESH" "${ENV[@]}" bash -c "cd $PROJECT && exec bash scripts/serve.sh --listen 127.0.0.1:$PORT" \
  >"$WORK/serve.log" 2>&1 &
serve_pid=$!
healthz=""
deadline=$(($(date +%s) + SERVE_TIMEOUT_S))
while [ "$(date +%s)" -lt "$deadline" ] && kill -0 "$serve_pid" 2>/dev/null; do
  healthz="$(timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT && printf 'GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3 && cat <&3" 2>/dev/null || true)"
  case "$healthz" in "HTTP/1.1 200"* | "HTTP/1.0 200"*) break ;; esac
  healthz=""
  sleep 1
done
if [ -n "$healthz" ]; then
  echo "   GET /healthz: $(printf '%s' "$healthz" | head -1 | tr -d '\r') $(printf '%s' "$healthz" | tail -1)"
  kill -TERM "$serve_pid" 2>/dev/null || true
  stop_deadline=$(($(date +%s) + 30))
  while kill -0 "$serve_pid" 2>/dev/null && [ "$(date +%s)" -lt "$stop_deadline" ]; do sleep 0.5; done
  if kill -0 "$serve_pid" 2>/dev/null; then
    record "bash scripts/serve.sh (GET /healthz, then SIGTERM)" "FAIL (did not stop within 30 s of SIGTERM)"
  elif wait "$serve_pid"; then
    record "bash scripts/serve.sh (GET /healthz, then SIGTERM)" PASS
  else
    record "bash scripts/serve.sh (GET /healthz, then SIGTERM)" "FAIL (exit $? after SIGTERM)"
  fi
else
  kill -TERM "$serve_pid" 2>/dev/null || true
  record "bash scripts/serve.sh (GET /healthz, then SIGTERM)" "FAIL (no answer from /healthz)"
fi
tail -5 "$WORK/serve.log"

echo
echo "== check-fresh summary ($(elapsed); Debian $(cat "$FRESH/etc/debian_version"), node $(in_root 'node --version 2>/dev/null || echo none'))"
status=0
for i in "${!STEPS[@]}"; do
  printf '%-52s %s\n' "${STEPS[$i]}" "${RESULTS[$i]}"
  [ "${RESULTS[$i]}" = PASS ] || status=1
done
if [ "$status" = 0 ]; then echo "check-fresh: PASS"; else echo "check-fresh: FAIL (logs in $WORK)"; fi
exit "$status"
