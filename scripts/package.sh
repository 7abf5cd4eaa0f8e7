#!/usr/bin/env bash
# Builds the Debian package flowrun_<version>_<arch>.deb from this checkout:
#
#   bash scripts/package.sh [OUT_DIR]      (default OUT_DIR: the build directory)
#
# It builds the binary (Release, as setup.sh does), stages the package tree and runs
# dpkg-deb. The package holds /usr/bin/flowrun, /usr/share/flowrun/{schemas,flows}, the default
# /etc/flowrun/flowrun.yaml (a conffile), the unit flowrun.service, the sysusers.d entry for the
# `flowrun` system user and the maintainer scripts (packaging/). Files are owned by root and
# dated at the last commit (SOURCE_DATE_EPOCH), so the same commit gives the same package.
# Prints the path of the .deb as its last line.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
OUT_DIR="${1:-$BUILD_DIR}"

if [ -z "${FLOWRUN_PACKAGE_NO_BUILD:-}" ]; then
  FLOWRUN_BUILD_TARGET=flowrun build_flowrun "$BUILD_DIR"
fi
BINARY="$BUILD_DIR/flowrun"
VERSION="$("$BINARY" --version | awk '{print $2}')"
ARCH="$(dpkg --print-architecture)"
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git -C "$ROOT" log -1 --format=%ct 2>/dev/null || echo 0)}"

STAGE="$(mktemp -d)"
trap 'rm -rf "$STAGE"' EXIT
PKG="$STAGE/flowrun"
install -d -m 0755 "$PKG/DEBIAN" "$PKG/usr/bin" "$PKG/usr/share/flowrun/schemas" \
  "$PKG/usr/share/flowrun/flows" "$PKG/etc/flowrun" "$PKG/lib/systemd/system" \
  "$PKG/usr/lib/sysusers.d" "$PKG/usr/share/doc/flowrun"
install -m 0755 "$BINARY" "$PKG/usr/bin/flowrun"
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$PKG/usr/bin/flowrun"
install -m 0644 "$ROOT"/schemas/*.schema.json "$PKG/usr/share/flowrun/schemas/"
install -m 0644 "$ROOT"/flows/*.yaml "$ROOT/flows/README.md" "$PKG/usr/share/flowrun/flows/"
install -m 0644 "$ROOT/packaging/flowrun.yaml" "$PKG/etc/flowrun/flowrun.yaml"
install -m 0644 "$ROOT/packaging/flowrun.service" "$PKG/lib/systemd/system/flowrun.service"
install -m 0644 "$ROOT/packaging/flowrun.sysusers" "$PKG/usr/lib/sysusers.d/flowrun.conf"
install -m 0644 "$ROOT/README.md" "$ROOT/docs/operations.md" "$PKG/usr/share/doc/flowrun/"
install -m 0644 "$ROOT/packaging/deb/conffiles" "$PKG/DEBIAN/conffiles"
install -m 0755 "$ROOT/packaging/deb/postinst" "$ROOT/packaging/deb/prerm" \
  "$ROOT/packaging/deb/postrm" "$PKG/DEBIAN/"

# Depends: the shared libraries' packages, as dpkg-shlibdeps finds them (it wants debian/control).
mkdir -p "$STAGE/debian"
printf 'Source: flowrun\n\nPackage: flowrun\nArchitecture: any\n' >"$STAGE/debian/control"
DEPENDS="$(cd "$STAGE" && dpkg-shlibdeps -O flowrun/usr/bin/flowrun 2>/dev/null |
  sed -n 's/^shlibs:Depends=//p')"
[ -n "$DEPENDS" ] || { echo "package: dpkg-shlibdeps found no dependencies" >&2; exit 1; }
INSTALLED_SIZE="$(du -sk --exclude=DEBIAN "$PKG" | cut -f1)"
sed -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$ARCH/" -e "s/@INSTALLED_SIZE@/$INSTALLED_SIZE/" \
  -e "s/@DEPENDS@/$DEPENDS/" "$ROOT/packaging/deb/control.in" >"$PKG/DEBIAN/control"
(cd "$PKG" && find . -type f ! -path './DEBIAN/*' ! -path './etc/*' -printf '%P\0' | sort -z |
  xargs -0 md5sum) >"$PKG/DEBIAN/md5sums"
find "$PKG" -exec touch --no-dereference --date="@$SOURCE_DATE_EPOCH" {} +

mkdir -p "$OUT_DIR"
DEB="$(cd "$OUT_DIR" && pwd)/flowrun_${VERSION}_${ARCH}.deb"
dpkg-deb --root-owner-group -Zxz -z1 --build "$PKG" "$DEB" >/dev/null
echo "$DEB"
