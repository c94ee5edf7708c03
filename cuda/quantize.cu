// Smooth + per-token symmetric INT4 quantization + packing, one block per row:
// v[q] = x[row, perm[q]] · mult[q / group] (each optional), amax = max |v|,
// scale = amax / 7, code = clamp(rint(v · (7 / amax)), -8, 7) packed 8 per u32.
// Bit-exact with the CPU reference: one correctly rounded multiply per element, IEEE
// divisions once per row. Rows with amax < 2^-123 (or non-finite) give zeros; a
// non-finite amax sets status bit 1.
#define QUANT_THREADS 256

// With a permutation and `staged`, the row is first copied into shared memory (dynamic,
// k floats) with coalesced loads, and the gather reads it there: a gather from device memory
// touches a different 32-byte sector for nearly every code.
__device__ __forceinline__ float smoothed(const float* __restrict__ row, const u32* __restrict__ perm,
                                          const float* __restrict__ mult, unsigned q, unsigned group) {
  float v = row[perm ? perm[q] : q];
  return mult ? __fmul_rn(v, mult[q / group]) : v;
}

extern "C" __global__ void __launch_bounds__(QUANT_THREADS)
    quantize(const float* __restrict__ x, const u32* __restrict__ perm, const float* __restrict__ mult,
             u32* __restrict__ packed, float* __restrict__ scales, u32* __restrict__ status,
             unsigned long long rows, unsigned k, unsigned group, unsigned staged) {
  extern __shared__ float srow[];
  __shared__ u32 partial[QUANT_THREADS / 32];
  const unsigned long long r = global_block();
  if (r >= rows) return;
  const float* row = x + r * k;
  if (staged) {
    for (unsigned q = threadIdx.x; q < k; q += QUANT_THREADS) srow[q] = row[q];
    __syncthreads();
    row = srow;
  }
  u32 m = 0;
  for (unsigned q = threadIdx.x; q < k; q += QUANT_THREADS)
    m = max(m, __float_as_uint(smoothed(row, perm, mult, q, group)) & 0x7fffffffu);
  for (int h = 16; h > 0; h >>= 1) m = max(m, __shfl_xor_sync(0xffffffffu, m, h));
  if ((threadIdx.x & 31) == 0) partial[threadIdx.x >> 5] = m;
  __syncthreads();
  m = 0;
#pragma unroll
  for (int w = 0; w < QUANT_THREADS / 32; ++w) m = max(m, partial[w]);
  const float amax = __uint_as_float(m);
  const bool ok = m >= 0x02000000u && m < 0x7f800000u;  // 2^-123 <= amax <= FLT_MAX
  const float inv = ok ? __fdiv_rn(7.0f, amax) : 0.0f;
  if (threadIdx.x == 0) {
    scales[r] = ok ? __fdiv_rn(amax, 7.0f) : 0.0f;
    if (m >= 0x7f800000u) atomicOr(status, 2u);
  }
  u32* out = packed + r * (k / 8);
  for (unsigned w = threadIdx.x; w < k / 8; w += QUANT_THREADS) {
    u32 word = 0;
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      int code = 0;
      if (ok) {
        float c = rintf(__fmul_rn(smoothed(row, perm, mult, 8 * w + i, group), inv));
        code = (int)fminf(fmaxf(c, -8.0f), 7.0f);
      }
      word |= ((u32)code & 0xFu) << (4 * i);
    }
    out[w] = word;
  }
}
