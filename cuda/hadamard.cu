// Fast Walsh-Hadamard transform of contiguous vectors of n = 2^LOGN floats (one block per
// vector), times `scale`; reads `src` (or x itself when src is null), writes x.
// Thread t holds elements t + T·i (i < E) in registers: the butterflies over the bits of i
// run in registers, those over the lane bits through warp shuffles, and those over the warp
// bits after one exchange through shared memory (n floats).
// The cross pass applies the dense ±1 matrix of an m·2^n size across the m chunks.

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

template <int LOGN>
__device__ __forceinline__ void fwht_body(float* __restrict__ x, const float* __restrict__ src,
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
  const float* in = (src ? src : x) + v * N;
  float r[E];
#pragma unroll
  for (int i = 0; i < E; ++i) r[i] = in[t + T * i];
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
  float* out = x + v * N;
#pragma unroll
  for (int i = 0; i < E; ++i) out[t + T * i] = r[i] * scale;
}

#define FWHT(LOGN)                                                                         \
  extern "C" __global__ void __launch_bounds__(fwht_threads(1 << LOGN))                     \
      fwht_##LOGN(float* x, const float* src, unsigned long long vectors, float scale) {    \
    fwht_body<LOGN>(x, src, vectors, scale);                                               \
  }
FWHT(0) FWHT(1) FWHT(2) FWHT(3) FWHT(4) FWHT(5) FWHT(6) FWHT(7)
FWHT(8) FWHT(9) FWHT(10) FWHT(11) FWHT(12) FWHT(13) FWHT(14) FWHT(15)

// x: [rows, M · chunk]. For each row and j < chunk:
// y[a·chunk + j] = scale · Σ_b H[a][b] x[b·chunk + j] (b ascending, as the CPU reference).
template <int M>
__device__ __forceinline__ void cross_body(float* __restrict__ x, const float* __restrict__ signs,
                                           unsigned long long rows, unsigned chunk, float scale) {
  const unsigned long long id = global_block() * blockDim.x + threadIdx.x;
  if (id >= rows * chunk) return;
  const unsigned long long row = id / chunk, j = id % chunk;
  float* base = x + row * M * chunk + j;
  float v[M];
#pragma unroll
  for (int b = 0; b < M; ++b) v[b] = base[(unsigned long long)b * chunk];
#pragma unroll
  for (int a = 0; a < M; ++a) {
    float acc = 0.0f;
#pragma unroll
    for (int b = 0; b < M; ++b) acc += signs[a * M + b] * v[b];  // exact products: ±v
    base[(unsigned long long)a * chunk] = acc * scale;
  }
}

#define CROSS(M)                                                                           \
  extern "C" __global__ void fwht_cross_##M(float* x, const float* signs,                  \
                                            unsigned long long rows, unsigned chunk,       \
                                            float scale) {                                 \
    cross_body<M>(x, signs, rows, chunk, scale);                                           \
  }
CROSS(12) CROSS(20) CROSS(28) CROSS(36)
