#!/usr/bin/env bash
# The Swift side of Ferry, compiled and tested on Linux: the generated Swift bindings
# (bindings/swift) and FerryKit (ios/FerryKit), built in Swift 6 language mode with complete
# concurrency checking, and FerryKit's XCTest tests run (two real nodes on loopback).
#
# Debian 13 packages a Swift toolchain (`swiftlang`); it needs a newer C library than the host,
# so it runs in a Debian 13 chroot made once with debootstrap, from the Debian mirror apt uses
# here, and cached in .tools/debian13-swift. Every mount is made inside a private mount
# namespace (nothing stays mounted when the script ends), and the Swift steps run in a network
# namespace of their own with only loopback up. Needs root (CI has it).
#
#   scripts/swift.sh            build the host library, then swift build + swift test
#   scripts/swift.sh --shell    a shell in the chroot, set up as for the tests (debugging)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CHROOT="$ROOT/.tools/debian13-swift"
SUITE=trixie
PACKAGES=swiftlang,libc6-dev
# What the chroot sees: the repository (read-write: .build/ goes into the packages' folders),
# the host-built library, and a Linux package for the bindings made by this script.
IN_REPO=/ferry
IN_LIB=/ferry-lib
IN_BINDINGS=/ferry-bindings

die() { echo "swift: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot and namespaces)"

# The Debian mirror apt uses here (deb822 .sources or a one-line sources.list); the security
# archive is not the main one.
mirror() {
    local files=() f url
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] && files+=("$f")
    done
    [ ${#files[@]} -gt 0 ] || return 0
    url="$(sed -n -e 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' \
                  -e 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]*\).*/\2/p' "${files[@]}" \
           | grep -v -e security -e '^cdrom:' | head -n1)"
    echo "$url"
}

make_chroot() {
    if ! command -v debootstrap >/dev/null; then
        echo "swift: installing debootstrap on the host (apt-get install debootstrap)"
        # (Waits for another apt to finish rather than failing on its lock.)
        local apt=(apt-get -o DPkg::Lock::Timeout=600 -y -q)
        "${apt[@]}" install debootstrap >/dev/null 2>&1 || { "${apt[@]}" update >/dev/null && "${apt[@]}" install debootstrap >/dev/null; } \
            || die "could not install debootstrap"
    fi
    local url
    url="$(mirror)"
    [ -n "$url" ] || url=http://deb.debian.org/debian
    echo "swift: making a Debian 13 ($SUITE) chroot in .tools/debian13-swift with debootstrap from $url,"
    echo "swift: with $PACKAGES (Swift 6.0); once, 2 to 6 minutes, ~585 MB downloaded, ~2.6 GB on disk"
    local partial="$CHROOT.partial"
    rm -rf "$partial"
    mkdir -p "$(dirname "$CHROOT")"
    local keyring=()
    [ -f /usr/share/keyrings/debian-archive-keyring.gpg ] && keyring=(--keyring=/usr/share/keyrings/debian-archive-keyring.gpg)
    # debootstrap mounts /proc and /sys in the target while it installs: in a mount namespace of
    # its own, so that nothing stays mounted if it is interrupted.
    if ! unshare -m --propagation private debootstrap --variant=minbase "${keyring[@]}" --include="$PACKAGES" \
            "$SUITE" "$partial" "$url" > "$ROOT/.tools/debian13-swift.log" 2>&1; then
        tail -n 20 "$ROOT/.tools/debian13-swift.log" >&2
        die "debootstrap failed (log: .tools/debian13-swift.log)"
    fi
    rm -rf "$partial"/var/cache/apt/archives/*.deb
    mv "$partial" "$CHROOT"
    touch "$CHROOT/.ferry-ready"
}

[ -f "$CHROOT/.ferry-ready" ] || make_chroot
[ -e "$CHROOT/usr/bin/swift" ] || [ -L "$CHROOT/usr/bin/swift" ] || die "no swift in the chroot: remove .tools/debian13-swift and run again"

if [ "${1:-}" = "--chroot-only" ]; then exit 0; fi

# The host library (libferry_ffi.so), built with the project's target folder.
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$TARGET" in /*) ;; *) TARGET="$ROOT/$TARGET" ;; esac
echo "swift: cargo build -p ferry-ffi (the library the Swift bindings call)"
(cd "$ROOT" && cargo build -q -p ferry-ffi --locked)
LIB_DIR="$TARGET/debug"
[ -f "$LIB_DIR/libferry_ffi.so" ] || die "no $LIB_DIR/libferry_ffi.so after the build"

# On Linux the bindings' package links the library through a system-library target (a module
# map with `link "ferry_ffi"`) where Apple platforms use the XCFramework. The committed package
# stays as it is: a Linux one is made here from the committed generated files, and mounted over
# bindings/swift inside the chroot only (so FerryKit's `../../bindings/swift` finds it).
# (Made in a fresh folder, which replaces the one in use only when something changed: unchanged
# files keep their times, so that SwiftPM does not rebuild the bindings each run.)
STAGE="$TARGET/swift-linux/bindings"
NEW="$TARGET/swift-linux/bindings.new"
rm -rf "$NEW"
mkdir -p "$NEW/FerryCore" "$NEW/FerryCoreFFI"
cp "$ROOT/bindings/swift/FerryCore.swift" "$NEW/FerryCore/"
cp "$ROOT/bindings/swift/FerryCoreFFI.h" "$NEW/FerryCoreFFI/"
cat > "$NEW/FerryCoreFFI/module.modulemap" <<'MAP'
module FerryCoreFFI {
    header "FerryCoreFFI.h"
    link "ferry_ffi"
    export *
}
MAP
cat > "$NEW/Package.swift" <<'PKG'
// swift-tools-version:6.0
// Made by scripts/swift.sh: FerryCore on Linux, over the host-built libferry_ffi.so.
import PackageDescription

let package = Package(
    name: "FerryCore",
    products: [.library(name: "FerryCore", targets: ["FerryCore"])],
    targets: [
        .systemLibrary(name: "FerryCoreFFI", path: "FerryCoreFFI"),
        .target(name: "FerryCore", dependencies: ["FerryCoreFFI"], path: "FerryCore"),
    ]
)
PKG
if [ -d "$STAGE" ] && diff -rq "$NEW" "$STAGE" >/dev/null 2>&1; then
    rm -rf "$NEW"
else
    rm -rf "$STAGE"
    mv "$NEW" "$STAGE"
fi

# Swift 6 language mode (complete concurrency checking, errors not warnings) for every module:
# the manifests' tools version 6 sets it per package (FerryKit's and the bindings' above). Not
# with -swift-version on the command line: that also reaches the test list SwiftPM generates on
# Linux, which does not compile in Swift 6 mode.
for manifest in "$ROOT/ios/FerryKit/Package.swift" "$STAGE/Package.swift"; do
    head -n1 "$manifest" | grep -Eq 'swift-tools-version: ?6' || die "$manifest is not in Swift 6 mode (swift-tools-version 6)"
    if grep -q 'swiftLanguageMode\|swiftLanguageVersions\|swift-version' "$manifest"; then die "$manifest changes the language mode"; fi
done
# Swift 6.0's libswiftObservation.so has an undefined symbol on Linux (swift::threading::fatal,
# fixed in 6.2): --allow-shlib-undefined gets the test binary linked.
SWIFT_FLAGS=(-Xlinker -L"$IN_LIB" -Xlinker -rpath -Xlinker "$IN_LIB" -Xlinker --allow-shlib-undefined)
# `swift test` on Linux prints the XCTest summary last only without Swift Testing's run.
read -r -d '' STEPS <<EOS || true
set -euo pipefail
export HOME=/root LANG=C.UTF-8 PATH=/usr/bin:/bin:/usr/sbin:/sbin
cd $IN_REPO/ios/FerryKit
swift --version 2>&1 | head -n1
echo "swift: swift build (bindings and FerryKit, Swift 6, complete concurrency checking)"
swift build --build-tests ${SWIFT_FLAGS[*]}
echo "swift: swift test (FerryKit's XCTest tests, two real nodes on loopback)"
swift test --skip-build --disable-swift-testing ${SWIFT_FLAGS[*]}
EOS
if [ "${1:-}" = "--shell" ]; then STEPS="cd $IN_REPO/ios/FerryKit; exec bash -i"; fi

# One private mount namespace (every mount below goes when it ends) and one network namespace
# with loopback only.
mkdir -p "$CHROOT$IN_REPO" "$CHROOT$IN_LIB"
rm -rf "$CHROOT"/tmp/ferry-*
export CHROOT ROOT STAGE LIB_DIR IN_REPO IN_LIB STEPS
status=0
unshare --mount --net --propagation private bash -c '
    set -euo pipefail
    ip link set lo up
    mount --bind "$ROOT" "$CHROOT$IN_REPO"
    mount --bind "$STAGE" "$CHROOT$IN_REPO/bindings/swift"
    mount --bind -o ro "$LIB_DIR" "$CHROOT$IN_LIB"
    mount -t proc proc "$CHROOT/proc"
    mount --bind /dev "$CHROOT/dev"
    mount -t tmpfs -o size=64m shm "$CHROOT/dev/shm"
    exec chroot "$CHROOT" /bin/bash -c "$STEPS"
' || status=$?
if grep -q " $CHROOT" /proc/mounts; then die "something stayed mounted below $CHROOT"; fi
[ "$status" = 0 ] || die "the Swift build or tests failed (exit $status)"
echo "swift: the Swift bindings and FerryKit compile (Swift 6, complete checking) and their tests pass"
