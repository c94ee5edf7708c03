#!/usr/bin/env bash
# Runs on the device machine (no Rust there): the prebuilt bench binary through Vulkan,
# then the PyTorch peers, in one command. Expects the bench binary at .dev/bench and the
# Vulkan loader debs in .gl (see the device notes in BENCHMARKS.md). Writes to $OUT.
set -uo pipefail
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader > "$OUT/gpu.txt"
# One process per section: layers timed right after the GEMM section (hundreds of MiB of
# per-repetition outputs freed late) read up to 3x high; in a fresh process they are stable.
: > "$OUT/ours.jsonl"
for section in memory gemm linear; do
  .dev/bench --json --only "$section" "$@" >> "$OUT/ours.jsonl" 2>> "$OUT/ours.err"
  echo "bench $section rc=$?"
done
tail -3 "$OUT/ours.err"
PYTHONUNBUFFERED=1 python3 benches/torch_peer.py "$@" > "$OUT/torch.jsonl" 2> "$OUT/torch.err"
echo "torch rc=$?"; tail -3 "$OUT/torch.err"
python3 -c "import torch; print(torch.__version__, torch.version.cuda)" >> "$OUT/gpu.txt"
cat "$OUT/gpu.txt"
