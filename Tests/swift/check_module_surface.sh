#!/bin/sh
# `import Scse` gives the Swift API and nothing of the C ABI: the scse_*
# functions of scse.h stay behind it (Sources/Scse imports CScse at package
# level). Type-checks two client files against the SwiftPM build's modules:
# one calling scse_version() must fail with "cannot find", one using
# ChannelSELayer (the positive control) must pass.
# Usage: Tests/swift/check_module_surface.sh [swift build options, e.g. -c release]
set -eu
cd "$(dirname "$0")/../.."
swift build --target Scse "$@" >/dev/null
bin=$(swift build --show-bin-path "$@")
modules="$bin/Modules"
[ -d "$modules" ] || modules="$bin"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The C modules Scse is built on, found as a client package's build finds them.
typecheck() {
  swiftc -typecheck -I "$modules" \
    -Xcc -fmodule-map-file="$PWD/include/module.modulemap" \
    -Xcc -fmodule-map-file="$PWD/Sources/CScseCPU/include/module.modulemap" \
    -Xcc -fmodule-map-file="$PWD/Sources/CScseSIMD/module.modulemap" \
    "$1" >"$work/log" 2>&1
}

cat >"$work/uses_layer.swift" <<'SWIFT'
import Scse
let layer = ChannelSELayer(channels: 8, reductionRatio: 2, seed: 1)
let shape = TensorShape(batch: 1, channels: 8, spatial: [2, 2], layout: .channelsFirst)
let y = try layer.forward([Float](repeating: 1, count: 32), shape: shape)
print(y.count)
SWIFT
if ! typecheck "$work/uses_layer.swift"; then
  cat "$work/log" >&2
  echo "check_module_surface: a client using ChannelSELayer does not type-check against $modules" >&2
  exit 1
fi

cat >"$work/uses_c_abi.swift" <<'SWIFT'
import Scse
print(scse_version())
SWIFT
if typecheck "$work/uses_c_abi.swift"; then
  echo "check_module_surface: import Scse exposes scse_version()" >&2
  exit 1
fi
if ! grep -q "cannot find 'scse_version' in scope" "$work/log"; then
  cat "$work/log" >&2
  echo "check_module_surface: scse_version() failed to type-check for another reason" >&2
  exit 1
fi
echo "check_module_surface: import Scse exposes ChannelSELayer and no scse_* function"
