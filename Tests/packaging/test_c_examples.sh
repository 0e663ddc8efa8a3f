#!/bin/sh
# Installs libscse from a configured and built CMake tree into a prefix under
# it, builds examples/c against that prefix twice (find_package through CMake,
# pkg-config through examples/c/Makefile), runs both builds and checks their
# outputs against a float64 numpy reference and against each other.
#   Tests/packaging/test_c_examples.sh [BUILD_DIR] [PYTHON]
set -eu

src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
python=${2:-python3}
work=$build/examples-test
prefix=$work/prefix
examples=$src/examples/c

run() { echo "+ $*"; "$@"; }
fail() { echo "test_c_examples: FAIL: $*" >&2; exit 1; }

command -v pkg-config >/dev/null || fail "pkg-config is not installed (make deps installs it)"
rm -rf "$work"
mkdir -p "$work"
cd "$work"  # keeps the logged command lines short

run cmake --install "$build" --prefix "$prefix"
pcfile=$(find "$prefix" -name scse.pc)
config_dir=$(dirname "$(find "$prefix" -name scse-config.cmake)")
[ -n "$pcfile" ] && [ -f "$config_dir/scse-config-version.cmake" ] \
  || fail "scse.pc or the CMake package files were not installed"
# C consumers must not need Swift: nothing of it may leak into the package
# files (the install prefix is left out: the checkout's path may say swift).
if sed "s|$prefix||g" "$config_dir"/*.cmake "$pcfile" | grep -i swift; then
  fail "the installed package files above mention Swift"
fi
run cmake -DVERSION_FILE="$config_dir/scse-config-version.cmake" \
  -P "$src/Tests/packaging/check_config_version.cmake"

# 1. CMake: find_package(scse CONFIG REQUIRED), target scse::scse.
run cmake -G Ninja -S "$examples" -B cmake -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix"
run cmake --build cmake --parallel 2

# 2. pkg-config: cc $(pkg-config --cflags --libs scse).
PKG_CONFIG_PATH=$(dirname "$pcfile")
export PKG_CONFIG_PATH
echo "+ PKG_CONFIG_PATH=$PKG_CONFIG_PATH pkg-config --cflags --libs scse"
flags=$(pkg-config --cflags --libs scse)
echo "$flags"
case "$flags" in *"-I$prefix/"*"-L$prefix/"*"-lscse"*) ;; *) fail "unexpected pkg-config flags";; esac
header_version=$(sed -n 's/^#define SCSE_VERSION_[A-Z]* *\([0-9]*\)$/\1/p' "$src/include/scse.h" | paste -sd.)
cmake_version=$(sed -n 's/^set(PACKAGE_VERSION "\(.*\)")$/\1/p' "$config_dir/scse-config-version.cmake")
pc_version=$(pkg-config --modversion scse)
echo "versions: scse.h $header_version, scse.pc $pc_version, CMake package $cmake_version"
[ "$pc_version" = "$header_version" ] && [ "$cmake_version" = "$header_version" ] \
  || fail "the package files do not carry the version of include/scse.h"
run make --no-print-directory -C "$examples" O="$work/pkgconfig"

for b in cmake pkgconfig; do
  # Both must run against the installed library, not the build tree's.
  lib=$(ldd "$b/scse_apply" | sed -n 's/.*libscse\.so\.[0-9]* => \([^ ]*\).*/\1/p')
  case "$lib" in "$prefix"/*) ;; *) fail "$b/scse_apply loads libscse from '$lib', not from $prefix";; esac
  run "$b/scse_info"
done

# Data sets: the default shape, and hidden width 0 (C // r == 0) with 3 spatial dims.
run "$python" "$examples/example_data.py" make data
run "$python" "$examples/example_data.py" make data-hidden0 --shape 3 5 4 3 2 --reduction 8 --seed 1
for data in data data-hidden0; do
  for aggregate in sum max; do
    for b in cmake pkgconfig; do
      out=$b-$data-$aggregate.scse
      run "$b/scse_apply" --aggregate "$aggregate" "$data/weights.scse" "$data/input.scse" "$out"
      run "$python" "$examples/example_data.py" check "$data" "$out" --aggregate "$aggregate"
    done
    run cmp "cmake-$data-$aggregate.scse" "pkgconfig-$data-$aggregate.scse"
  done
done
echo "test_c_examples: ok (prefix $prefix)"
