// Per-token symmetric INT4 quantization of one row a block (device code; the entries are in
// quantize.cu, and rotate.cu runs them on rows it has just rotated; f16.cuh comes first):
// v[q] = row[perm[q]] · mult[q / group] (each optional), amax = max |v|, scale = amax / 7,
// code = clamp(rint(v · (7 / amax)), -8, 7) packed 8 per u32. Bit-exact with the CPU
// reference: one correctly rounded multiply per element, IEEE divisions once per row. Rows
// with amax < 2^-123 (or non-finite) give zeros; a non-finite amax sets status bit 1.

// max over the block of every thread's m (every thread gets it).
template <int THREADS>
__device__ __forceinline__ u32 block_max(u32 m) {
  __shared__ u32 partial[THREADS / 32];
  for (int h = 16; h > 0; h >>= 1) m = max(m, __shfl_xor_sync(0xffffffffu, m, h));
  if ((threadIdx.x & 31) == 0) partial[threadIdx.x >> 5] = m;
  __syncthreads();
  m = 0;
#pragma unroll
  for (int w = 0; w < THREADS / 32; ++w) m = max(m, partial[w]);
  return m;
}

// The row's scale from the bits m of its max |v|: writes scales[r] (and status bit 1 when not
// finite) and returns 7 / amax, or 0 for a zero row.
__device__ __forceinline__ float row_scale(u32 m, unsigned long long r, float* __restrict__ scales,
                                           u32* __restrict__ status) {
  const float amax = __uint_as_float(m);
  const bool ok = m >= 0x02000000u && m < 0x7f800000u;  // 2^-123 <= amax <= FLT_MAX
  if (threadIdx.x == 0) {
    scales[r] = ok ? __fdiv_rn(amax, 7.0f) : 0.0f;
    if (m >= 0x7f800000u) atomicOr(status, 2u);
  }
  return ok ? __fdiv_rn(7.0f, amax) : 0.0f;
}

// One packed word: code i = clamp(rint(v[i] · inv), -8, 7) in nibble i (inv = 0: zeros,
// whatever v holds). inv = RN(7 / amax) with amax = max |v| over the row, so |v[i] · inv|
// rounds to at most 7 · (1 + 2^-21): the clamp never applies, and adding 1.5 · 2^23 to the
// rounded product rounds it to an integer c (to nearest even, as rint) held in the sum's
// last mantissa bits as 0x4B400000 + c, whose low nibble is c in two's complement. A
// multiply and an add, where rint, the clamp and the conversion to int took five
// instructions, two of them on the quarter-rate conversion pipe (H200, N = K = 8192, f16
// static RRS layer: M = 4096 0.730–0.734 → 0.722–0.725 ms, M = 2048 0.376 → 0.370–0.372;
// QuaRot-style, whose fused rotation packs the same way, within the spread).
__device__ __forceinline__ u32 pack_word(const float (&v)[8], float inv) {
  if (inv == 0.0f) return 0;
  u32 word = 0;
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const float c = __fadd_rn(__fmul_rn(v[i], inv), 12582912.0f);
    word |= (__float_as_uint(c) & 0xFu) << (4 * i);
  }
  return word;
}

// A row's scale and codes from its smoothed values: m is this thread's max of their bits
// (of |v|), v[j] the 8 values of its word t + THREADS · j (j < NW, words below kw), packed
// into out[t + THREADS · j]; the scale goes to scales[r] (`row_scale`).
template <int THREADS, int NW>
__device__ __forceinline__ void pack_row(const float (&v)[NW][8], u32 m, u32* __restrict__ out,
                                         float* __restrict__ scales, u32* __restrict__ status,
                                         unsigned long long r, unsigned kw) {
  const float inv = row_scale(block_max<THREADS>(m), r, scales, status);
#pragma unroll
  for (int j = 0; j < NW; ++j) {
    const unsigned w = threadIdx.x + THREADS * j;
    if (w >= kw) break;
    out[w] = pack_word(v[j], inv);
  }
}

// The permutation entries of word w (two 16-byte loads), each clamped to the row: an entry
// past k reads the row's last element (a bad permutation gives wrong codes, never a read
// outside the row).
__device__ __forceinline__ void perm_word(const u32* __restrict__ perm, unsigned w, unsigned k,
                                          u32 (&idx)[8]) {
  const uint4 p0 = reinterpret_cast<const uint4*>(perm)[2 * w];
  const uint4 p1 = reinterpret_cast<const uint4*>(perm)[2 * w + 1];
  idx[0] = p0.x, idx[1] = p0.y, idx[2] = p0.z, idx[3] = p0.w;
  idx[4] = p1.x, idx[5] = p1.y, idx[6] = p1.z, idx[7] = p1.w;
#pragma unroll
  for (int i = 0; i < 8; ++i) idx[i] = min(idx[i], k - 1);
}

// v = srow[idx] (a row staged in shared memory, gathered; elements widened exactly).
template <typename E>
__device__ __forceinline__ void gather8(const E* srow, const u32 (&idx)[8], float (&v)[8]) {
#pragma unroll
  for (int i = 0; i < 8; ++i) v[i] = load_f32(srow + idx[i]);
}

// m = max(m, bits of |v[i]|) over a word's 8 values.
__device__ __forceinline__ u32 word_max(const float (&v)[8], u32 m) {
#pragma unroll
  for (int i = 0; i < 8; ++i) m = max(m, __float_as_uint(v[i]) & 0x7fffffffu);
  return m;
}

// A row of k ≤ 8 · THREADS · NW codes, each value read once: thread t owns words
// t + THREADS · j (j < NW) and keeps their 8 smoothed values in registers between the row
// maximum and the packing. With a permutation the values are gathered from `srow` (the row in
// shared memory; the thread reads its 8 permutation entries with two 16-byte loads), else
// read from `row` 16 bytes at a time; one multiplier a word where the group is a multiple
// of 8. Writes the row's kw = k / 8 words to `out` and its scale to scales[r]. Elements E:
// f32 or f16 (widened exactly). Permutation entries are clamped to the row (`perm_word`).
template <int THREADS, int NW, typename E>
__device__ __forceinline__ void quantize_row(const E* __restrict__ row, const E* srow,
                                             const u32* __restrict__ perm, const float* __restrict__ mult,
                                             u32* __restrict__ out, float* __restrict__ scales,
                                             u32* __restrict__ status, unsigned long long r, unsigned k,
                                             unsigned group) {
  const unsigned kw = k / 8, t = threadIdx.x;
  float v[NW][8];
  u32 m = 0;
#pragma unroll
  for (int j = 0; j < NW; ++j) {
    const unsigned w = t + THREADS * j;
    if (w >= kw) break;
    if (perm) {
      u32 idx[8];
      perm_word(perm, w, k, idx);
      gather8(srow, idx, v[j]);
    } else {
      load8(row + 8 * w, v[j]);
    }
    if (mult) {
      const float s = mult[8 * w / group];
#pragma unroll
      for (int i = 0; i < 8; ++i)
        v[j][i] = __fmul_rn(v[j][i], group % 8 == 0 ? s : mult[(8 * w + i) / group]);
    }
    m = word_max(v[j], m);
  }
  pack_row<THREADS, NW>(v, m, out, scales, status, r, kw);
}
