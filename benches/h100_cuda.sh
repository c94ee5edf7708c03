#!/usr/bin/env bash
# Runs on the device machine (no Rust there), in one command: the CUDA tests (tests/cuda.rs
# but its NVRTC compile check, which CI runs; and the op parity suite on every GEMM path),
# then the CUDA bench (and its GEMM section again on the INT8 path, for comparison on
# Hopper, where the wgmma path is the default) and the PyTorch peers.
# Expects prebuilt binaries in .dev/ (cuda, parity, bench_cuda: `cargo test --release
# --features cuda --no-run`, `cargo build --release --features cuda --example bench_cuda`).
# Writes to $OUT; merge with benches/merge_results.py into benches/results/h100-cuda.json.
set -uo pipefail
export LD_LIBRARY_PATH=/usr/local/cuda/targets/x86_64-linux/lib:${LD_LIBRARY_PATH:-}
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader > "$OUT/gpu.txt"
.dev/cuda --nocapture --skip kernels_compile > "$OUT/tests.txt" 2>&1; echo "tests/cuda.rs rc=$?"
for path in int4 int8 wgmma; do
  RRS_TEST_BACKEND=cuda RRS_CUDA_GEMM=$path .dev/parity >> "$OUT/tests.txt" 2>&1
  echo "parity on CUDA ($path) rc=$?"
done
grep -E "test result|FAILED|panicked" "$OUT/tests.txt"
.dev/bench_cuda "$@" > "$OUT/ours.jsonl" 2> "$OUT/ours.err"; echo "bench_cuda rc=$?"
if grep -q "path Wgmma" "$OUT/ours.err"; then
  .dev/bench_cuda --gemm int8 --only gemm "$@" > "$OUT/ours-int8.jsonl" 2>> "$OUT/ours.err"
  echo "bench_cuda --gemm int8 rc=$?"
fi
PYTHONUNBUFFERED=1 python3 benches/torch_peer.py "$@" > "$OUT/torch.jsonl" 2> "$OUT/torch.err"
echo "torch rc=$?"
python3 -c "import torch; print(torch.__version__, torch.version.cuda)" >> "$OUT/gpu.txt"
cat "$OUT/gpu.txt"
