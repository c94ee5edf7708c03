// Smooth + per-token symmetric INT4 quantization + packing, one block per row (the arithmetic
// and its rounding: quantize.cuh, prepended to this source). Rows are f32 (`quantize…`) or
// f16 (`quantize_h…`, each element widened exactly: the same codes as its f32 widening).
#define QUANT_THREADS 256

// With a permutation and `staged`, the row is first copied into shared memory (dynamic,
// k elements) with coalesced loads, and the gather reads it there: a gather from device
// memory touches a different 32-byte sector for nearly every code.
template <typename In>
__device__ __forceinline__ float smoothed(const In* __restrict__ row, const u32* __restrict__ perm,
                                          const float* __restrict__ mult, unsigned q, unsigned k,
                                          unsigned group) {
  float v = load_f32(row + (perm ? min(perm[q], k - 1) : q));
  return mult ? __fmul_rn(v, mult[q / group]) : v;
}

// A row of k elements into shared memory as it is: 16-byte `cp.async` copies by THREADS
// threads (coalesced), all of a thread's in flight at once (a load-then-store loop waited for
// each load in turn); not committed.
template <int THREADS, typename In>
__device__ __forceinline__ void copy_row_async(float4* dst, const In* row, unsigned k) {
  const float4* src = reinterpret_cast<const float4*>(row);
  for (unsigned q = threadIdx.x; q < k / (16 / sizeof(In)); q += THREADS) copy16(dst + q, src + q);
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
    copy_row_async<THREADS>(stage, row, k);
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
    grid_dependency();                                                                       \
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

// Permuted rows of k ≤ 8 · THREADS · NW codes with one multiplier a word (group a multiple
// of 8): Runtime Smooth with reorder. Persistent blocks (as many as the SMs hold, the host's
// grid), block b taking rows b, b + G, … (G = gridDim.x). A thread loads its words'
// permutation entries and multipliers once and keeps them in registers for all its rows,
// and the next STAGES − 1 rows stream into shared memory (`cp.async`, STAGES · k elements)
// while it quantizes one (`quantize_row`'s arithmetic: the same codes and scales).
// Why: `quantize_regs` runs one row a block, its copy, its gather (with the permutation
// read again for every row) and its stores in sequence, and is bound by their latency.
// H200, M = 4096, k = 8192, f16, in the static RRS layer (Nsight Compute): 39.3–39.9 µs
// → 35.7–36.6 (with `absmax` reversed: 62 → 44 MB read from DRAM), and 30.5 with
// `pack_word`'s rounding by addition. The layer, N = K = 8192 (ms, two rounds in one
// command, `absmax` reversed in both): f32 rows 0.794 / 0.788 → 0.778 / 0.777; f16 rows
// 0.722 / 0.727 → 0.722 / 0.724. What bounds it now: the gather's bank conflicts (2.7 M of
// its 3.9 M shared-load wavefronts; the shared-memory pipe 59% busy), with issue slots 53%
// busy and 22 of 64 warps active. Since `ee1d79e` a static reorder's groups are arranged to
// spread those loads over the banks (`rrs::gather_order`): M = 2048, f16, 1.95 M → 1.18 M
// shared-load wavefronts, 21.0–22.4 → 18.6–20.5 µs.
template <int THREADS, int NW, int STAGES, typename In>
__device__ __forceinline__ void quantize_stream(const In* __restrict__ x, const u32* __restrict__ perm,
                                                const float* __restrict__ mult, u32* __restrict__ packed,
                                                float* __restrict__ scales, u32* __restrict__ status,
                                                unsigned long long rows, unsigned k, unsigned group) {
  extern __shared__ float4 stage[];
  const unsigned t = threadIdx.x, kw = k / 8, chunks = k / (16 / sizeof(In));
  u32 idx[NW][8];
  float s[NW];
#pragma unroll
  for (int j = 0; j < NW; ++j) {
    const unsigned w = min(t + THREADS * j, kw - 1);  // past kw: loaded, never used
    perm_word(perm, w, k, idx[j]);
    s[j] = mult ? mult[8 * w / group] : 1.0f;
  }
  // Row r into buffer b (16-byte copies, coalesced), committed as one group (empty past the
  // last row, so that every iteration commits one).
  auto stage_row = [&](unsigned long long r, unsigned b) {
    if (r < rows) copy_row_async<THREADS>(stage + (size_t)b * chunks, x + r * k, k);
    async_commit();
  };
  const unsigned long long first = blockIdx.x, step = gridDim.x;
#pragma unroll
  for (int b = 0; b < STAGES - 1; ++b) stage_row(first + b * step, b);
  unsigned b = 0;
  for (unsigned long long r = first; r < rows; r += step) {
    // The buffer read one row ago (every thread past the sync at its end) takes the row
    // STAGES − 1 ahead.
    stage_row(r + (STAGES - 1) * step, b == 0 ? STAGES - 1 : b - 1);
    async_wait<STAGES - 1>();
    __syncthreads();  // row r staged (every thread's copies)
    const In* srow = reinterpret_cast<const In*>(stage + (size_t)b * chunks);
    float v[NW][8];
    u32 m = 0;
#pragma unroll
    for (int j = 0; j < NW; ++j) {
      if (t + THREADS * j >= kw) break;
      gather8(srow, idx[j], v[j]);
      if (mult) {
#pragma unroll
        for (int i = 0; i < 8; ++i) v[j][i] = __fmul_rn(v[j][i], s[j]);
      }
      m = word_max(v[j], m);
    }
    pack_row<THREADS, NW>(v, m, packed + r * kw, scales, status, r, kw);
    b = b + 1 == STAGES ? 0 : b + 1;
    __syncthreads();  // row r's buffer and block_max's partials read: free for the next rows
  }
  async_wait<0>();  // the empty groups committed past the last row
}
#define QUANT_STREAM_STAGES 2
#define QUANT_STREAM_MIN_BLOCKS 3  // 80 registers; 2 (96 registers) measured the same
RRS_HOST_CHECK(RRS_HOST_QUANT_STREAM_STAGES == QUANT_STREAM_STAGES, "quantize_stream's stages");
#define QUANTIZE_STREAM_ENTRY(NAME, IN, THREADS, NW)                                              \
  extern "C" __global__ void __launch_bounds__(THREADS, QUANT_STREAM_MIN_BLOCKS) NAME##_##THREADS##_##NW( \
      const IN* x, const u32* perm, const float* mult, u32* packed, float* scales,                 \
      u32* status, unsigned long long rows, unsigned k, unsigned group) {                          \
    grid_dependency();                                                                             \
    quantize_stream<THREADS, NW, QUANT_STREAM_STAGES, IN>(x, perm, mult, packed, scales, status,   \
                                                          rows, k, group);                         \
  }
#define QUANTIZE_STREAM(THREADS, NW)                                                              \
  QUANTIZE_STREAM_ENTRY(quantize_stream, float, THREADS, NW)                                      \
  QUANTIZE_STREAM_ENTRY(quantize_stream_h, f16, THREADS, NW)
QUANTIZE_STREAM(256, 1) QUANTIZE_STREAM(256, 2) QUANTIZE_STREAM(256, 4)

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
    m = max(m, __float_as_uint(smoothed(row, perm, mult, q, k, group)) & 0x7fffffffu);
  const float inv = row_scale(block_max<QUANT_THREADS>(m), r, scales, status);
  u32* out = packed + r * (k / 8);
  for (unsigned w = threadIdx.x; w < k / 8; w += QUANT_THREADS) {
    float v[8];
#pragma unroll
    for (int i = 0; i < 8; ++i) v[i] = smoothed(row, perm, mult, 8 * w + i, k, group);
    out[w] = pack_word(v, inv);
  }
}
#define QUANTIZE_ANY(NAME, IN)                                                                \
  extern "C" __global__ void __launch_bounds__(QUANT_THREADS)                                 \
      NAME(const IN* x, const u32* perm, const float* mult, u32* packed, float* scales,       \
           u32* status, unsigned long long rows, unsigned k, unsigned group, unsigned staged) { \
    grid_dependency();                                                                          \
    quantize_any<IN>(x, perm, mult, packed, scales, status, rows, k, group, staged);          \
  }
QUANTIZE_ANY(quantize, float)
QUANTIZE_ANY(quantize_h, f16)
