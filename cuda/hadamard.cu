// Fast Walsh-Hadamard transform of contiguous vectors of n = 2^LOGN elements (one block per
// vector), times `scale`; reads `src` (or x itself when src is null), writes x. Elements are
// f32, or f16 (IEEE half, converted to f32 on load; the f32 result rounded to nearest once, on
// store): fwht_<LOGN> f32 → f32, fwht_h_<LOGN> f16 → f16, fwht_hf_<LOGN> f16 → f32 (the first
// pass of an m·2^n size in f16, whose cross pass then rounds).
// The transforms themselves are in fwht.cuh (prepended to this source).
// The cross pass applies the dense ±1 matrix of an m·2^n size across the m chunks.

#define STREAM_ENTRY(NAME, IN, OUT)                                                       \
  extern "C" __global__ void __launch_bounds__(STREAM_T, 1)                               \
      NAME(OUT* x, const IN* src, unsigned long long vectors, float scale) {              \
    fwht_stream<IN, OUT>(x, src, vectors, scale);                                         \
  }
STREAM_ENTRY(fwht_stream, float, float)
STREAM_ENTRY(fwht_h_stream, f16, f16)
RRS_HOST_CHECK(RRS_HOST_FWHT_STREAM_SMEM_F32 == STREAM_SMEM(float) &&
                   RRS_HOST_FWHT_STREAM_SMEM_F16 == STREAM_SMEM(f16),
               "fwht_stream_smem");

// f16 loads four elements at a time (V = 4, 8 bytes) where a vector has four, else pairs.
// f32 loads one element at a time below 2^12 (not measured otherwise); from 2^12 two or four
// (F32_V): four unless that halves the block (fwht_threads), which measured best on the
// H200 at M = 4096 (ms, V = 1 / 2 / 4: 2^12 0.0392 / 0.0379 / 0.0395, 2^13 0.0761 / 0.0733 /
// 0.0712, 2^14 0.1595 / 0.1430 / 0.1494, 2^15 0.3956 (a cluster of two blocks, removed) /
// 0.3861 / 0.3617).
#define FWHT_ENTRY(NAME, LOGN, IN, OUT, V)                                                 \
  extern "C" __global__ void __launch_bounds__(                                             \
      two_pass_logr(LOGN) ? 1 << (LOGN - two_pass_logr(LOGN)) : fwht_threads((1 << LOGN) / V)) \
      NAME(OUT* x, const IN* src, unsigned long long vectors, float scale) {                \
    if constexpr (two_pass_logr(LOGN) > 0)                                                 \
      fwht_two_pass<LOGN, IN, OUT>(x, src, vectors, scale);                                \
    else                                                                                   \
      fwht_body<LOGN, IN, OUT, V>(x, src, vectors, scale);                                 \
  }
#define FWHT(LOGN)                                                                         \
  FWHT_ENTRY(fwht_##LOGN, LOGN, float, float, F32_V(LOGN))                                 \
  FWHT_ENTRY(fwht_h_##LOGN, LOGN, f16, f16, F16_V(LOGN))                                   \
  FWHT_ENTRY(fwht_hf_##LOGN, LOGN, f16, float, F16_V(LOGN))
#define F16_V(LOGN) (LOGN >= 2 ? 4 : LOGN == 1 ? 2 : 1)
#define F32_V(LOGN) \
  (LOGN < 12 ? 1 : fwht_threads((1 << LOGN) / 4) == fwht_threads((1 << LOGN) / 2) ? 4 : 2)
FWHT(0) FWHT(1) FWHT(2) FWHT(3) FWHT(4) FWHT(5) FWHT(6) FWHT(7)
FWHT(8) FWHT(9) FWHT(10) FWHT(11) FWHT(12) FWHT(13) FWHT(14) FWHT(15)

// x: [rows, M · chunk] f32. For each row and j < chunk:
// y[a·chunk + j] = scale · Σ_b H[a][b] x[b·chunk + j] (b ascending, as the CPU reference),
// into y (f32: y may be x; f16: rounded once). A thread reads all of its column before it
// writes any of it, so in place is safe.
template <int M, typename Out>
__device__ __forceinline__ void cross_body(Out* y, const float* x, const float* __restrict__ signs,
                                           unsigned long long rows, unsigned chunk, float scale) {
  const unsigned long long id = global_block() * blockDim.x + threadIdx.x;
  if (id >= rows * chunk) return;
  const unsigned long long row = id / chunk, j = id % chunk, base = row * M * chunk + j;
  float v[M];
#pragma unroll
  for (int b = 0; b < M; ++b) v[b] = x[base + (unsigned long long)b * chunk];
#pragma unroll
  for (int a = 0; a < M; ++a) {
    // From the first product, not from 0: the reference's sum starts at -0.0, which keeps a
    // sum of negative zeros negative (0.0f + -0.0f is +0.0f).
    float acc = signs[a * M] * v[0];
#pragma unroll
    for (int b = 1; b < M; ++b) acc += signs[a * M + b] * v[b];  // exact products: ±v
    store_f32(y + base + (unsigned long long)a * chunk, acc * scale);
  }
}

// fwht_cross_<M>: f32 in place; fwht_cross_fh_<M>: f32 → f16.
#define CROSS(M)                                                                           \
  extern "C" __global__ void fwht_cross_##M(float* x, const float* signs,                  \
                                            unsigned long long rows, unsigned chunk,       \
                                            float scale) {                                 \
    cross_body<M, float>(x, x, signs, rows, chunk, scale);                                 \
  }                                                                                        \
  extern "C" __global__ void fwht_cross_fh_##M(f16* y, const float* x, const float* signs, \
                                               unsigned long long rows, unsigned chunk,    \
                                               float scale) {                              \
    cross_body<M, f16>(y, x, signs, rows, chunk, scale);                                   \
  }
CROSS(2) CROSS(12) CROSS(20) CROSS(28) CROSS(36)  // 2: 2^15 as two chunks of 2^14
