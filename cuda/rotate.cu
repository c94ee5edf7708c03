// The FWHT fused with the quantize that follows it (`quantize_rotated`: QuaRot-style layers,
// rotation then per-token RTN), so that the rotated rows never reach device memory. For the
// two-pass sizes n = 2^12 … 2^14 (2^14 not on sm_75; `two_pass_logr` in fwht.cuh):
// fwht_quantize_<L> (x f32) computes y = FWHT(x) · scale row by row exactly as fwht_<L> does
// (`two_pass_row`, then one multiply), then the row's codes and scale as `quantize_regs` in
// quantize.cu makes them from y (`quantize_row`); fwht_quantize_h_<L> (x f16) rounds y to f16
// first, as fwht_h_<L> stores it, so that its codes are those of the unfused pair.
// H200, N = K = 8192, the QuaRot-style layer (ms, fused against RRS_CUDA_FUSE_ROTATION=0):
// M = 2048 0.363 against 0.384, M = 4096 0.715 against 0.754. Not used with Runtime
// Smooth, whose channel maxima need the whole batch rotated before any row is quantized: a
// maxima kernel that rotated its rows and kept its channels' running maxima in shared memory
// (persistent blocks, 32 KiB more a block: half the occupancy) took 56 µs where fwht_13 and
// `absmax` take 33 + 18.5 (M = 2048, Nsight Compute); one that added each element to the
// maxima with `red.global.max` took 132 µs (BENCHMARKS.md); rotating f16 rows of 2^13
// twice, `fwht_max_h_13` taking the maxima without writing its rows and these kernels
// rotating them again (with the permutation and group multipliers) for the codes, was 9%
// slower in the static f16 RRS layer at M = 2048 than writing them once and reading them
// back (0.397 against 0.364 ms, H200): the second transform costs more than the 32 MiB
// it saves writing and reading.

// One block a row: the row's y into shared memory (n floats, over the transform's buffer),
// then `quantize_row` of it with thread t owning words t + T·j (j < R / 8).
template <int LOGN, typename In>
__device__ __forceinline__ void fwht_quantize(const In* __restrict__ x, const u32* __restrict__ perm,
                                              const float* __restrict__ mult, u32* __restrict__ packed,
                                              float* __restrict__ scales, u32* __restrict__ status,
                                              unsigned long long rows, unsigned group, float scale) {
  using L = TwoPass<LOGN>;
  constexpr unsigned R = L::R, T = L::T, P = L::P, N = L::N;
  extern __shared__ float s[];
  const unsigned long long v = global_block();
  if (v >= rows) return;
  const unsigned t = threadIdx.x;
  float r[R];
  two_pass_row<LOGN>(x + v * N, s, t, r);
  const float sc = in_register(scale);
#pragma unroll
  for (unsigned i = 0; i < R; ++i) {
    r[i] *= sc;
    if constexpr (sizeof(In) == 2) r[i] = half_to_float(float_to_half(r[i]));
  }
  __syncthreads();  // every thread's reads of the exchange done before y overwrites it
#pragma unroll
  for (unsigned i = 0; i < R / P; ++i) store_v<P>(s + P * t + P * T * i, r + P * i);
  __syncthreads();
  quantize_row<T, R / 8>(s, s, perm, mult, packed + v * (N / 8), scales, status, v, N, group);
}

#define ROTATE_ENTRY(NAME, LOGN, IN)                                                           \
  extern "C" __global__ void __launch_bounds__(TwoPass<LOGN>::T) NAME##_##LOGN(                 \
      const IN* x, const u32* perm, const float* mult, u32* packed, float* scales, u32* status, \
      unsigned long long rows, unsigned group, float scale) {                                   \
    grid_dependency();                                                                          \
    fwht_quantize<LOGN, IN>(x, perm, mult, packed, scales, status, rows, group, scale);         \
  }
#define ROTATE(LOGN) ROTATE_ENTRY(fwht_quantize, LOGN, float) ROTATE_ENTRY(fwht_quantize_h, LOGN, f16)
ROTATE(12) ROTATE(13)
#if __CUDA_ARCH__ >= 800
ROTATE(14)
#endif
