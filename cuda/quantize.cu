// Smooth + per-token symmetric INT4 quantization + packing, one block per row (the arithmetic
// and its rounding: quantize.cuh, prepended to this source). Rows are f32 (`quantize…`) or
// f16 (`quantize_h…`, each element widened exactly: the same codes as its f32 widening).
#define QUANT_THREADS 256

// With a permutation and `staged`, the row is first copied into shared memory (dynamic,
// k elements) with coalesced loads, and the gather reads it there: a gather from device
// memory touches a different 32-byte sector for nearly every code.
template <typename In>
__device__ __forceinline__ float smoothed(const In* __restrict__ row, const u32* __restrict__ perm,
                                          const float* __restrict__ mult, unsigned q, unsigned group) {
  float v = load_f32(row + (perm ? perm[q] : q));
  return mult ? __fmul_rn(v, mult[q / group]) : v;
}

// Rows of up to 8 · THREADS · NW codes (k ≤ 32768 with the entries below), read once
// (`quantize_row`). With a permutation the row is first staged in shared memory (k elements,
// 16-byte copies), for the gather.
template <int THREADS, int NW, typename In>
__device__ __forceinline__ void quantize_regs(const In* __restrict__ x, const u32* __restrict__ perm,
                                              const float* __restrict__ mult, u32* __restrict__ packed,
                                              float* __restrict__ scales, u32* __restrict__ status,
                                              unsigned long long rows, unsigned k, unsigned group) {
  extern __shared__ float4 stage[];
  In* srow = reinterpret_cast<In*>(stage);
  const unsigned long long r = global_block();
  if (r >= rows) return;
  const In* row = x + r * k;
  if (perm) {
    // All of a thread's copies in flight at once (`cp.async`): a load-then-store loop waited
    // for each load in turn.
    const float4* src = reinterpret_cast<const float4*>(row);
    for (unsigned q = threadIdx.x; q < k / (16 / sizeof(In)); q += THREADS) copy16(stage + q, src + q);
    async_commit();
    async_wait<0>();
    __syncthreads();
  }
  quantize_row<THREADS, NW>(row, srow, perm, mult, packed + r * (k / 8), scales, status, r, k, group);
}
#define QUANTIZE_REGS_ENTRY(NAME, IN, THREADS, NW)                                          \
  extern "C" __global__ void __launch_bounds__(THREADS) NAME##_##THREADS##_##NW(            \
      const IN* x, const u32* perm, const float* mult, u32* packed, float* scales,           \
      u32* status, unsigned long long rows, unsigned k, unsigned group) {                    \
    quantize_regs<THREADS, NW, IN>(x, perm, mult, packed, scales, status, rows, k, group);   \
  }
#define QUANTIZE_REGS(THREADS, NW)                                                          \
  QUANTIZE_REGS_ENTRY(quantize_regs, float, THREADS, NW)                                    \
  QUANTIZE_REGS_ENTRY(quantize_regs_h, f16, THREADS, NW)
QUANTIZE_REGS(256, 1) QUANTIZE_REGS(256, 2) QUANTIZE_REGS(256, 4) QUANTIZE_REGS(256, 8)
QUANTIZE_REGS(1024, 4)  // (1024, 8) spills
// Tried for k = 8192 and not kept: 512 threads × 2 words (32 registers instead of 48: 90% of
// warps active instead of 56%), H200, M = 2048, permuted with group multipliers: f32 28.0
// against 28.5 µs, f16 25.1 against 22 µs (Nsight Compute), and the layers 0.5–1.5% slower:
// occupancy does not bound it.

// Any k (rows longer than quantize_regs takes): each value is read twice, for the row
// maximum and for its code.
template <typename In>
__device__ __forceinline__ void quantize_any(const In* __restrict__ x, const u32* __restrict__ perm,
                                             const float* __restrict__ mult, u32* __restrict__ packed,
                                             float* __restrict__ scales, u32* __restrict__ status,
                                             unsigned long long rows, unsigned k, unsigned group,
                                             unsigned staged) {
  extern __shared__ float4 stage[];
  In* srow = reinterpret_cast<In*>(stage);
  const unsigned long long r = global_block();
  if (r >= rows) return;
  const In* row = x + r * k;
  if (staged) {
    for (unsigned q = threadIdx.x; q < k; q += QUANT_THREADS) srow[q] = row[q];
    __syncthreads();
    row = srow;
  }
  u32 m = 0;
  for (unsigned q = threadIdx.x; q < k; q += QUANT_THREADS)
    m = max(m, __float_as_uint(smoothed(row, perm, mult, q, group)) & 0x7fffffffu);
  const float inv = row_scale(block_max<QUANT_THREADS>(m), r, scales, status);
  u32* out = packed + r * (k / 8);
  for (unsigned w = threadIdx.x; w < k / 8; w += QUANT_THREADS) {
    float v[8];
#pragma unroll
    for (int i = 0; i < 8; ++i) v[i] = smoothed(row, perm, mult, 8 * w + i, group);
    out[w] = pack_word(v, inv);
  }
}
#define QUANTIZE_ANY(NAME, IN)                                                                \
  extern "C" __global__ void __launch_bounds__(QUANT_THREADS)                                 \
      NAME(const IN* x, const u32* perm, const float* mult, u32* packed, float* scales,       \
           u32* status, unsigned long long rows, unsigned k, unsigned group, unsigned staged) { \
    quantize_any<IN>(x, perm, mult, packed, scales, status, rows, k, group, staged);          \
  }
QUANTIZE_ANY(quantize, float)
QUANTIZE_ANY(quantize_h, f16)
