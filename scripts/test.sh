#!/usr/bin/env bash
# The test suite: make sure a GPU adapter exists (installing lavapipe if needed), check
# formatting, run every test (GPU parity on whatever adapter is present, naga shader
# validation), build the benches, and run the demo on a small workload.
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
python3 - <<'PY'
import json
rows = {r["method"]: r for r in map(json.loads, open("target/demo-smoke.jsonl"))}
assert set(rows) == {"fp32", "rtn", "smoothquant", "quarot", "rs", "rrs"}, rows
assert rows["rrs"]["rel_error"] < rows["rtn"]["rel_error"], rows
print("demo smoke run: ok")
PY
