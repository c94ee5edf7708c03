// Fast Walsh-Hadamard transform of contiguous vectors of n = 2^LOGN elements (one block per
// vector), times `scale`; reads `src` (or x itself when src is null), writes x. Elements are
// f32, or f16 (IEEE half, converted to f32 on load; the f32 result rounded to nearest once, on
// store): fwht_<LOGN> f32 → f32, fwht_h_<LOGN> f16 → f16, fwht_hf_<LOGN> f16 → f32 (the first
// pass of an m·2^n size in f16, whose cross pass then rounds).
// Thread t holds elements t + T·i (i < E) in registers: the butterflies over the bits of i
// run in registers, those over the lane bits through warp shuffles, and those over the warp
// bits after one exchange through shared memory (n floats).
// The cross pass applies the dense ±1 matrix of an m·2^n size across the m chunks.

typedef unsigned short f16;  // IEEE half bits (no header needed)

__device__ __forceinline__ float load_f32(const float* p) { return *p; }
__device__ __forceinline__ float load_f32(const f16* p) {
  float f;
  asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(*p));
  return f;
}
__device__ __forceinline__ void store_f32(float* p, float v) { *p = v; }
__device__ __forceinline__ void store_f32(f16* p, float v) {
  f16 h;
  asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(v));
  *p = h;
}

__host__ __device__ constexpr int fwht_threads(int n) {
  for (int t = 1024; t > 1; t /= 2) {
    int e = n / t, w = t >= 32 ? t / 32 : 1;
    if (t <= n && e <= 32 && e >= w) return t;
  }
  return 1;
}

template <int N>
__device__ __forceinline__ void butterflies(float (&r)[N]) {
#pragma unroll
  for (int h = 1; h < N; h <<= 1) {
#pragma unroll
    for (int i = 0; i < N; ++i) {
      if (!(i & h)) {
        float a = r[i], b = r[i + h];
        r[i] = a + b;
        r[i + h] = a - b;
      }
    }
  }
}

template <int LOGN, typename In, typename Out>
__device__ __forceinline__ void fwht_body(Out* __restrict__ x, const In* __restrict__ src,
                                          unsigned long long vectors, float scale) {
  constexpr int N = 1 << LOGN;
  constexpr int T = fwht_threads(N);
  constexpr int E = N / T;
  constexpr int W = T >= 32 ? T / 32 : 1;
  constexpr u32 MASK = T >= 32 ? 0xffffffffu : (1u << T) - 1u;
  extern __shared__ float s[];
  const unsigned long long v = global_block();
  if (v >= vectors) return;
  const int t = threadIdx.x;
  // In place only where In is Out (the host passes src for fwht_hf).
  const In* in = (src ? src : reinterpret_cast<const In*>(x)) + v * N;
  float r[E];
#pragma unroll
  for (int i = 0; i < E; ++i) r[i] = load_f32(in + t + T * i);
  // Stages in ascending bit order, as the CPU reference runs them (so the results are
  // bit-identical): lane bits through shuffles, then warp bits through shared memory, then
  // the bits of i in registers.
  const int lane = t & 31;
#pragma unroll
  for (int h = 1; h < 32 && h < T; h <<= 1) {
#pragma unroll
    for (int i = 0; i < E; ++i) {
      float o = __shfl_xor_sync(MASK, r[i], h);
      r[i] = (lane & h) ? o - r[i] : r[i] + o;
    }
  }
  if constexpr (W > 1) {
#pragma unroll
    for (int i = 0; i < E; ++i) s[t + T * i] = r[i];
    __syncthreads();
    // Each thread now owns E / W (lane, i) pairs and all W warps' values of each.
#pragma unroll
    for (int c = 0; c < E / W; ++c) {
      const int q = t + T * c, ln = q & 31, i = q >> 5;
      float u[W];
#pragma unroll
      for (int w = 0; w < W; ++w) u[w] = s[ln + 32 * w + T * i];
      butterflies(u);
#pragma unroll
      for (int w = 0; w < W; ++w) s[ln + 32 * w + T * i] = u[w];
    }
    __syncthreads();
#pragma unroll
    for (int i = 0; i < E; ++i) r[i] = s[t + T * i];
  }
  butterflies(r);
  Out* out = x + v * N;
#pragma unroll
  for (int i = 0; i < E; ++i) store_f32(out + t + T * i, r[i] * scale);
}

#define FWHT_ENTRY(NAME, LOGN, IN, OUT)                                                    \
  extern "C" __global__ void __launch_bounds__(fwht_threads(1 << LOGN))                     \
      NAME(OUT* x, const IN* src, unsigned long long vectors, float scale) {                \
    fwht_body<LOGN, IN, OUT>(x, src, vectors, scale);                                      \
  }
#define FWHT(LOGN)                                                                         \
  FWHT_ENTRY(fwht_##LOGN, LOGN, float, float)                                              \
  FWHT_ENTRY(fwht_h_##LOGN, LOGN, f16, f16)                                                \
  FWHT_ENTRY(fwht_hf_##LOGN, LOGN, f16, float)
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
    float acc = 0.0f;
#pragma unroll
    for (int b = 0; b < M; ++b) acc += signs[a * M + b] * v[b];  // exact products: ±v
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
CROSS(12) CROSS(20) CROSS(28) CROSS(36)
