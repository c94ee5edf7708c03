#!/usr/bin/env bash
# Make sure the tools for the browser build exist: Rust's wasm32-unknown-unknown target
# and wasm-bindgen-cli at exactly the version of the wasm-bindgen crate in Cargo.lock
# (built from crates.io with cargo; about 4 minutes on 2 cores, once). With --browser,
# also Debian's Chromium and ChromeDriver for the headless tests.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  echo "ensure-web-tools: adding the wasm32-unknown-unknown target" >&2
  rustup target add wasm32-unknown-unknown
fi

want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)
[ -n "$want" ] || { echo "ensure-web-tools: wasm-bindgen not in Cargo.lock" >&2; exit 1; }
have=$(wasm-bindgen --version 2>/dev/null | awk '{ print $2 }' || true)
if [ "$have" != "$want" ]; then
  echo "ensure-web-tools: installing wasm-bindgen-cli $want (found: ${have:-none})" >&2
  cargo install wasm-bindgen-cli --version "$want"
fi

if [ "${1:-}" = --browser ] && ! { command -v chromium && command -v chromedriver; } >/dev/null; then
  echo "ensure-web-tools: installing Debian's chromium and chromium-driver" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
fi
