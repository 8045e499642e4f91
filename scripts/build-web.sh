#!/usr/bin/env bash
# Build the web front ends' engine: huren-web (the verifier's core, later the wallet's) for wasm32 with
# wasm-bindgen, into target/web/ (pkg/: ES module for the pages; node/: CommonJS for the differential test).
#
# It installs what it needs when missing: the wasm32 target (rustup), clang (Debian; ring's C code for wasm32),
# wasm-bindgen-cli from crates.io at exactly the version of the wasm-bindgen crate in Cargo.lock. wasm-opt
# (Debian's binaryen) shrinks the module when it is there.
set -euo pipefail
cd "$(dirname "$0")/.."

rustup target list --installed | grep -q '^wasm32-unknown-unknown$' || rustup target add wasm32-unknown-unknown
command -v clang >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang >/dev/null 2>&1 \
  || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang >/dev/null; }
version=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"$/\1/p')
if [ "$(wasm-bindgen --version 2>/dev/null | cut -d' ' -f2)" != "$version" ]; then
  echo "installing wasm-bindgen-cli $version (crates.io)"
  cargo install --quiet wasm-bindgen-cli --version "=$version"
fi

cargo build --quiet --profile web --target wasm32-unknown-unknown -p huren-web
wasm=target/wasm32-unknown-unknown/web/huren_web.wasm
rm -rf target/web/pkg target/web/node
wasm-bindgen --target web --no-typescript --out-dir target/web/pkg "$wasm"
wasm-bindgen --target nodejs --no-typescript --out-dir target/web/node "$wasm"
if command -v wasm-opt >/dev/null 2>&1; then
  for dir in target/web/pkg target/web/node; do
    wasm-opt -O3 --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals \
      -o "$dir/huren_web_bg.wasm" "$dir/huren_web_bg.wasm"
  done
fi
echo "huren-web: $(wc -c < target/web/pkg/huren_web_bg.wasm) bytes of wasm ($(gzip -9 -c target/web/pkg/huren_web_bg.wasm | wc -c) gzipped)"
