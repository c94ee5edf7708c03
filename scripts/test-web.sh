#!/usr/bin/env bash
# The browser tests (part of scripts/test.sh): the op parity tests of tests/parity/ inside
# headless Chromium on its WebGPU adapter (wasm-bindgen-test; SwiftShader where there is no
# GPU), then a WebDriver test of the demo page that saves screenshots under target/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-web-tools.sh --browser
export CHROMEDRIVER=${CHROMEDRIVER:-/usr/bin/chromedriver}
export WASM_BINDGEN_TEST_WEBDRIVER_JSON="$PWD/web/webdriver.json"
export WASM_BINDGEN_TEST_TIMEOUT=1200
cargo test --release -p rrs-web --target wasm32-unknown-unknown
scripts/web-build.sh
python3 web/tests/page.py --out target
