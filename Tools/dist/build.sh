#!/usr/bin/env bash
# `make dist`: self-contained release binaries in dist/ (strata-server, strata), with a systemd unit and an
# example config. The Swift runtime is linked statically (--static-swift-stdlib), and so are LMDB, zstd and
# libxcrypt, from Debian's static archives: the build's pkg-config files for them point the linker at a
# directory that holds only the .a files, which it then searches first. The binaries are stripped. What they
# still need: libc, libm, libstdc++ and libgcc_s.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=.build-dist
static="$build/static-libs"
mkdir -p "$static" dist
for lib in liblmdb.a libzstd.a libcrypt.a; do
  found=$(find /usr/lib /usr/lib64 -name "$lib" 2>/dev/null | head -1)
  [ -n "$found" ] || { echo "dist: $lib not found (install liblmdb-dev libzstd-dev libcrypt-dev)" >&2; exit 1; }
  ln -sf "$found" "$static/$lib"
done
for pc in lmdb libzstd libxcrypt; do
  printf 'Name: %s\nDescription: static, for make dist\nVersion: 0\nCflags:\nLibs: -L%s\n' "$pc" "$PWD/$static" > "$static/$pc.pc"
done
export PKG_CONFIG_PATH="$PWD/$static"
swift build -c release --build-path "$build" --static-swift-stdlib --product strata-server
swift build -c release --build-path "$build" --static-swift-stdlib --product strata
for binary in strata-server strata; do
  cp "$build/release/$binary" "dist/$binary"
  strip "dist/$binary"
done
cp Tools/dist/strata.service Tools/dist/strata.conf dist/
echo "dist: $(du -h dist/strata-server | cut -f1) strata-server, $(du -h dist/strata | cut -f1) strata"
for binary in strata-server strata; do
  echo "dist: $binary needs: $(readelf -d dist/$binary | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p' | tr '\n' ' ')"
done
