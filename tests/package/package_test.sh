#!/usr/bin/env bash
# The Debian package, checked offline (no systemd as PID 1 needed):
#   1. scripts/package.sh builds flowrun_<version>_<arch>.deb, twice with the same bytes;
#   2. dpkg-deb --info and --contents hold the expected control fields, files, modes and conffile;
#   3. systemd-analyze verify accepts the unit with no warning, and systemd-analyze security
#      rates it "OK" or better;
#   4. dpkg --root installs it into an empty root (the maintainer scripts run against that root:
#      DPKG_ROOT), creating the `flowrun` system user and enabling the unit; the installed
#      `flowrun validate` accepts the bundled flows and the default config from the installed
#      paths, and `flowrun serve` runs them with that config; installing again (an upgrade) keeps an edited conffile; removing and purging work.
#
#   bash tests/package/package_test.sh   (uses the build directory of scripts/setup.sh)
#
# Prints one line per check and a closing `package: N passed, N failed`.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
passed=0
failed=0

pass() { echo "ok: $1"; passed=$((passed + 1)); }
fail() { echo "FAILED: $1"; [ -z "${2:-}" ] || sed 's/^/    /' <<<"$2"; failed=$((failed + 1)); }
# check NAME COMMAND…: runs the command; passes when it exits 0.
check() {
  local name="$1" out
  shift
  if out="$("$@" 2>&1)"; then pass "$name"; else fail "$name" "$out"; fi
}
contains() { grep -qE -- "$2" <<<"$1"; }

# 1. Build, twice: the same commit gives the same bytes.
if ! DEB="$(bash "$ROOT/scripts/package.sh" "$WORK/out1" 2>"$WORK/build.log" | tail -1)" ||
  [ ! -f "$DEB" ]; then
  fail "scripts/package.sh builds the package" "$(tail -30 "$WORK/build.log")"
  echo "package: $passed passed, $failed failed"
  exit 1
fi
pass "scripts/package.sh builds $(basename "$DEB")"
[[ "$(basename "$DEB")" =~ ^flowrun_[0-9][^_]*_amd64\.deb$ ]] && pass "named flowrun_<version>_amd64.deb" ||
  fail "named flowrun_<version>_amd64.deb" "$(basename "$DEB")"
DEB2="$(FLOWRUN_PACKAGE_NO_BUILD=1 bash "$ROOT/scripts/package.sh" "$WORK/out2" 2>/dev/null | tail -1)"
check "a second build gives the same bytes" cmp "$DEB" "$DEB2"

# 2. dpkg-deb --info and --contents.
INFO="$(dpkg-deb --info "$DEB")"
for field in "Package: flowrun" "Architecture: amd64" "Depends: .*libc6.*libsqlite3-0.*" \
  "Depends: .*systemd" "Maintainer: " "Description: "; do
  contains "$INFO" "^ $field" && pass "control has $field" || fail "control has $field" "$INFO"
done
for script in postinst prerm postrm conffiles; do
  contains "$INFO" " $script " && pass "control archive holds $script" ||
    fail "control archive holds $script" "$INFO"
done
check "the conffile is /etc/flowrun/flowrun.yaml" \
  bash -c "dpkg-deb --ctrl-tarfile '$DEB' | tar -xO ./conffiles | grep -qx /etc/flowrun/flowrun.yaml"
CONTENTS="$(dpkg-deb --contents "$DEB")"
expect_file() {  # MODE OWNER PATH
  contains "$CONTENTS" "^$1 $2 +[0-9]+ [0-9-]+ [0-9:]+ \./${3#/}\$" && pass "contains $3 ($1 $2)" ||
    fail "contains $3 ($1 $2)" "$(grep -F "${3#/}" <<<"$CONTENTS")"
}
expect_file -rwxr-xr-x root/root /usr/bin/flowrun
expect_file -rw-r--r-- root/root /usr/share/flowrun/schemas/flow.schema.json
expect_file -rw-r--r-- root/root /usr/share/flowrun/schemas/config.schema.json
expect_file -rw-r--r-- root/root /etc/flowrun/flowrun.yaml
expect_file -rw-r--r-- root/root /lib/systemd/system/flowrun.service
expect_file -rw-r--r-- root/root /usr/lib/sysusers.d/flowrun.conf
for flow in "$ROOT"/flows/*.yaml; do
  contains "$CONTENTS" "\./usr/share/flowrun/flows/$(basename "$flow")\$" || {
    fail "every bundled flow is in /usr/share/flowrun/flows" "missing $(basename "$flow")"
    flow=""
    break
  }
done
[ -z "${flow:-}" ] || pass "every bundled flow is in /usr/share/flowrun/flows"
contains "$CONTENTS" "(/home|/tmp/|\./var/)" && fail "no files under /var, /tmp or /home" \
  "$CONTENTS" || pass "no files under /var, /tmp or /home"

# 4 (first, so that 3 can use the installed files). Install into an empty root.
ROOTFS="$WORK/root"
mkdir -p "$ROOTFS/var/lib/dpkg/info" "$ROOTFS/var/lib/dpkg/updates" "$ROOTFS/var/lib/dpkg/triggers"
touch "$ROOTFS/var/lib/dpkg/status" "$ROOTFS/var/lib/dpkg/available"
# The empty root has no libc or systemd, so dependencies are forced; the maintainer scripts run
# on this machine against the root (DPKG_ROOT), as for a debootstrap-style installation.
dpkg_root() {
  dpkg --root="$ROOTFS" --force-script-chrootless --force-depends --force-not-root "$@"
}
if out="$(dpkg_root -i "$DEB" 2>&1)"; then pass "dpkg --root -i installs it"; else
  fail "dpkg --root -i installs it" "$out"
fi
check "dpkg records it installed" \
  bash -c "dpkg --root='$ROOTFS' -s flowrun | grep -qx 'Status: install ok installed'"
check "postinst created the flowrun system user (nologin)" \
  grep -qE '^flowrun:x:[0-9]+:[0-9]+:[^:]*:/var/lib/flowrun:/usr/sbin/nologin$' "$ROOTFS/etc/passwd"
check "postinst created the flowrun group" grep -q '^flowrun:x:' "$ROOTFS/etc/group"
check "postinst enabled flowrun.service" \
  test -L "$ROOTFS/etc/systemd/system/multi-user.target.wants/flowrun.service"
check "the installed binary runs" "$ROOTFS/usr/bin/flowrun" --version
check "flowrun validate accepts the installed flows and config" \
  "$ROOTFS/usr/bin/flowrun" validate "$ROOTFS/usr/share/flowrun/flows" "$ROOTFS/etc/flowrun/flowrun.yaml"
CONFIG="$ROOTFS/etc/flowrun/flowrun.yaml"
# serve compiles the installed flows against the installed config (db steps need its `app`
# database); only the paths the service would own (/var/lib/flowrun) and the port move.
SERVE_LOG="$WORK/serve.log"
"$ROOTFS/usr/bin/flowrun" serve --config "$CONFIG" --store "sqlite:$WORK/flowrun.db" \
  --flows "$ROOTFS/usr/share/flowrun/flows" --listen 127.0.0.1:0 >"$SERVE_LOG" 2>&1 &
SERVE_PID=$!
for _ in $(seq 300); do
  grep -q '"msg":"flowrun serving"' "$SERVE_LOG" && break
  kill -0 "$SERVE_PID" 2>/dev/null || break
  sleep 0.1
done
if grep -q '"msg":"flowrun serving"' "$SERVE_LOG" && grep -q '"invalid_files":0' "$SERVE_LOG"; then
  pass "flowrun serve runs the installed flows with the installed config"
else
  fail "flowrun serve runs the installed flows with the installed config" "$(tail -20 "$SERVE_LOG")"
fi
check "the installed flowrun serve allocates with jemalloc (a Depends of the package)" \
  grep -q '"malloc":"jemalloc"' "$SERVE_LOG"
kill -TERM "$SERVE_PID" 2>/dev/null
wait "$SERVE_PID" && pass "flowrun serve stops cleanly on SIGTERM" ||
  fail "flowrun serve stops cleanly on SIGTERM" "$(tail -5 "$SERVE_LOG")"
check "the config stores in /var/lib/flowrun" grep -qx 'store: sqlite:/var/lib/flowrun/flowrun.db' "$CONFIG"
check "the config serves /usr/share/flowrun/flows" grep -qx 'flows: /usr/share/flowrun/flows' "$CONFIG"
check "the config's schema is the installed one" \
  grep -q 'schema=/usr/share/flowrun/schemas/config.schema.json' "$CONFIG"

# 3. The unit, offline. verify checks that ExecStart's binary exists, so it reads a copy whose
# /usr/bin/flowrun is the installed root's; every other line is the packaged unit's.
UNIT="$ROOTFS/lib/systemd/system/flowrun.service"
for key in Type=notify WatchdogSec= "ExecReload=/bin/kill -HUP [$]MAINPID" StateDirectory=flowrun \
  User=flowrun ProtectSystem=strict ProtectHome=yes NoNewPrivileges=yes PrivateTmp=yes \
  PrivateDevices=yes "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6" \
  SystemCallFilter=@system-service SystemCallArchitectures=native "CapabilityBoundingSet=\$"; do
  grep -qE "^$key" "$UNIT" && pass "unit has $key" || fail "unit has $key"
done
mkdir -p "$WORK/unit"
sed "s#^ExecStart=/usr/bin/flowrun #ExecStart=$ROOTFS/usr/bin/flowrun #" "$UNIT" >"$WORK/unit/flowrun.service"
if out="$(systemd-analyze verify --man=no "$WORK/unit/flowrun.service" 2>&1)" && [ -z "$out" ]; then
  pass "systemd-analyze verify: no errors or warnings"
else
  fail "systemd-analyze verify: no errors or warnings" "$out"
fi
SECURITY="$(systemd-analyze security --offline=true "$UNIT" 2>&1)"
LEVEL="$(grep -o 'Overall exposure level for flowrun.service: .*' <<<"$SECURITY")"
echo "    $LEVEL"
if [[ "$LEVEL" =~ :\ ([0-9.]+)\ (SAFE|OK) ]]; then
  pass "systemd-analyze security rates it OK or better (${BASH_REMATCH[1]} ${BASH_REMATCH[2]})"
else
  fail "systemd-analyze security rates it OK or better" "$(tail -5 <<<"$SECURITY")"
fi

# Upgrade (installing over itself): an edited conffile is kept; the user is not duplicated.
echo "# edited by the administrator" >>"$CONFIG"
if out="$(dpkg_root --force-confold -i "$DEB" 2>&1)"; then pass "installing again (upgrade) works"; else
  fail "installing again (upgrade) works" "$out"
fi
check "the upgrade kept the edited conffile" grep -qx '# edited by the administrator' "$CONFIG"
[ "$(grep -c '^flowrun:' "$ROOTFS/etc/passwd")" = 1 ] && pass "the user exists once after the upgrade" ||
  fail "the user exists once after the upgrade" "$(cat "$ROOTFS/etc/passwd")"

# Remove, then purge.
check "dpkg --root -r removes it" dpkg_root -r flowrun
check "the binary is gone, the conffile kept" \
  bash -c "[ ! -e '$ROOTFS/usr/bin/flowrun' ] && [ -f '$CONFIG' ]"
check "dpkg --root -P purges it" dpkg_root -P flowrun
check "the conffile is gone after purge" test ! -e "$CONFIG"

echo "package: $passed passed, $failed failed"
[ "$failed" = 0 ]
