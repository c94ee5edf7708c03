"""PyTorch peers for the bench program, timed on the same GPU in the same command.

Prints one JSON object per line: {"peer", "m", "n", "k", "ms"} where peer is one of
copy_f32 (y.copy_(x) of an m x k f32 tensor), copy_f16 (the same in f16), copy_bytes (n x k / 2 bytes: the packed
INT4 weights), matmul_f32 (TF32 off), matmul_f16, int_mm (torch._int_mm, int8, B
column-major). Times: CUDA events, median of 5 samples after warm-up.
"""
import json
import sys
import time

import torch

QUICK = "--quick" in sys.argv
# `--only decode`: the f16 matmuls of the decode sizes (m <= 16) alone, as the benches' flag.
DECODE_ONLY = "--only" in sys.argv and sys.argv[sys.argv.index("--only") + 1:][:1] == ["decode"]
# `--only hadamard`: the copies alone.
HADAMARD_ONLY = "--only" in sys.argv and sys.argv[sys.argv.index("--only") + 1:][:1] == ["hadamard"]
dev = "cuda"
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False


def time_ms(fn, reps):
    # Untimed work for at least 0.3 s first, as rrs's benches do (src/timing.rs,
    # CLOCK_WARM_UP): an idle GPU lowers its SM clock between cases and raises it slowly.
    start = time.perf_counter()
    runs = 0
    while runs < 3 or time.perf_counter() - start < 0.3:
        fn()
        torch.cuda.synchronize()
        runs += 1
    times = []
    for _ in range(5):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(reps):
            fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) / reps)
    times.sort()
    return times[len(times) // 2]


def emit(peer, m, n, k, ms):
    print(json.dumps({"peer": peer, "m": m, "n": n, "k": k, "ms": ms}), flush=True)


m_mem, ks = (64, [1024, 4096]) if QUICK else (4096, [4096, 8192, 16384, 32768])
# `--fwht-k 14336,28672`: the copies of those row lengths instead (as bench_cuda's flag).
if "--fwht-k" in sys.argv:
    ks = [int(v) for v in sys.argv[sys.argv.index("--fwht-k") + 1].split(",")]
for k in [] if DECODE_ONLY else ks:
    x = torch.randn(m_mem, k, device=dev)
    y = torch.empty_like(x)
    emit("copy_f32", m_mem, 0, k, time_ms(lambda: y.copy_(x), 10))
    xh, yh = x.half(), y.half()
    emit("copy_f16", m_mem, 0, k, time_ms(lambda: yh.copy_(xh), 10))
    del x, y, xh, yh

ms_list, nks = ([1, 16, 64], [512]) if QUICK else ([1, 16, 2048, 4096, 8192], [4096, 8192])
# The weights (n, k) with their batch sizes; `--gemm-shapes 4096x28672x8192,…` (M×N×K, as
# bench_cuda's flag) replaces every M with every N = K.
cases = [(nk, nk, ms_list) for nk in nks]
if "--gemm-shapes" in sys.argv:
    shapes = sys.argv[sys.argv.index("--gemm-shapes") + 1].split(",")
    cases = [(n, k, [m]) for m, n, k in (map(int, s.split("x")) for s in shapes)]
for n, k, ms_list in [] if HADAMARD_ONLY else cases:
    wb = torch.randint(0, 255, (n * k // 2,), dtype=torch.uint8, device=dev)
    wc = torch.empty_like(wb)
    emit("copy_bytes", 0, n, k, time_ms(lambda: wc.copy_(wb), 20))
    w32 = torch.randn(n, k, device=dev)
    w16 = w32.half()
    w8 = torch.randint(-8, 8, (n, k), dtype=torch.int8, device=dev)
    for m in ms_list:
        reps = 3 if m >= 2048 else 20
        a32 = torch.randn(m, k, device=dev)
        a16 = a32.half()
        if DECODE_ONLY:
            if m <= 16:
                emit("matmul_f16", m, n, k, time_ms(lambda: a16 @ w16.t(), reps))
            continue
        emit("matmul_f32", m, n, k, time_ms(lambda: a32 @ w32.t(), reps))
        emit("matmul_f16", m, n, k, time_ms(lambda: a16 @ w16.t(), reps))
        a8 = torch.randint(-8, 8, (m, k), dtype=torch.int8, device=dev)
        try:
            # B = w8.t() is k x n column-major, the layout cuBLASLt's int8 path wants.
            emit("int_mm", m, n, k, time_ms(lambda: torch._int_mm(a8, w8.t()), reps))
        except RuntimeError as e:
            print(f"int_mm m={m}: {str(e).splitlines()[0]}", file=sys.stderr)
