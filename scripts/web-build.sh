#!/usr/bin/env bash
# Build the browser demo: web/ for wasm32 (release), then wasm-bindgen's JS glue into
# web/pkg/. No wasm-opt: Debian's binaryen produces wasm that Chromium rejects, and
# fetching another is not allowed here.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-web-tools.sh
cargo build --release -p rrs-web --target wasm32-unknown-unknown
wasm-bindgen --target web --no-typescript --out-dir web/pkg \
  target/wasm32-unknown-unknown/release/rrs_web.wasm
echo "web-build: web/pkg/rrs_web_bg.wasm ($(du -h web/pkg/rrs_web_bg.wasm | cut -f1))" >&2
