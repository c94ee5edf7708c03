// Runtime Smooth's statistics: per-channel max |x| over the tokens, the channel order by that
// max (descending, ties by index: a rank sort, the same permutation as the CPU reference), and
// one scale per group of `group` reordered channels. x is f32 (`absmax`) or f16 (`absmax_h`).

// The row block of this block, the last rows first: the kernel before (the FWHT, or the
// caller's) wrote them last, so they are the ones still in the L2, and the quantize after
// reads the rows in ascending order, so that it finds the first rows there.
// H200, M = 4096, k = 8192, f16, in the static RRS layer (Nsight Compute): `absmax_h`
// 22.0–23.0 → 18.5–18.8 µs (54.5 → 44 MB read from DRAM), and the quantize after it reads
// 44 MB instead of 62.
__device__ __forceinline__ unsigned last_rows_first() { return gridDim.y - 1 - blockIdx.y; }

// |x| (its bits b) divided by 2^(e - 127), e the biased exponent of its row's maximum, in
// integer exponent arithmetic (channel_max::Statistic::RowNormalized; `normalized` in
// channel_max.wgsl): 0 below the normal range, for subnormals and in rows of zeros (e = 0);
// unchanged in rows with NaN or Inf (e = 255).
__device__ __forceinline__ u32 normalized(u32 b, u32 e) {
  if (e == 0) return 0;
  if (e == 255) return b;
  const int be = b >> 23, ne = be - (int)e + 127;
  if (be == 0 || ne <= 0) return 0;
  return (b & 0x7fffffu) | ((u32)ne << 23);
}

// The biased f32 exponent of the largest of each thread's `m` in the block (the bits of
// non-negative floats, 255 for NaN or Inf), into row_exp[row] (thread 0). 256 threads.
__device__ __forceinline__ void store_row_exponent(u32 m, u32* __restrict__ row_exp,
                                                   unsigned row) {
  __shared__ u32 warp_max[8];
  for (int o = 16; o > 0; o >>= 1) m = max(m, __shfl_xor_sync(0xffffffffu, m, o));
  if (threadIdx.x % 32 == 0) warp_max[threadIdx.x / 32] = m;
  __syncthreads();
  if (threadIdx.x != 0) return;
  for (int w = 1; w < 8; ++w) m = max(m, warp_max[w]);
  row_exp[row] = min(m >> 23, 255u);
}

// row_exp[i] = the biased exponent of max_j |x[i, j]| (255 for NaN or Inf). grid: rows blocks
// of 256.
extern "C" __global__ void row_exponent(const float* __restrict__ x, u32* __restrict__ row_exp,
                                        unsigned rows, unsigned k) {
  grid_dependency();
  const unsigned row = blockIdx.x;
  if (row >= rows) return;
  u32 m = 0;
  for (unsigned j = threadIdx.x; j < k; j += blockDim.x)
    m = max(m, __float_as_uint(x[(size_t)row * k + j]) & 0x7fffffffu);
  store_row_exponent(m, row_exp, row);
}

// row_exponent of f16 rows (k even), of their exact f32 widening: the max of the half bits,
// widened once.
extern "C" __global__ void row_exponent_h(const u32* __restrict__ x, u32* __restrict__ row_exp,
                                          unsigned rows, unsigned k) {
  grid_dependency();
  const unsigned row = blockIdx.x, k2 = k / 2;
  if (row >= rows) return;
  u32 m = 0;
  for (unsigned j = threadIdx.x; j < k2; j += blockDim.x)
    m = __vmaxu2(m, x[(size_t)row * k2 + j] & 0x7fff7fffu);
  m = max(__float_as_uint(half_to_float(m & 0xFFFFu)), __float_as_uint(half_to_float(m >> 16)));
  store_row_exponent(m, row_exp, row);
}

// bits[j] = max over rows of the bits of |x[i, j]| (max of the bits = max of the floats for
// non-negative values; NaN has the largest bits and propagates), each row `normalized` by
// row_exp[i] where row_exp is not null. grid: (k / 256, row blocks).
extern "C" __global__ void absmax(const float* __restrict__ x, u32* __restrict__ bits,
                                  const u32* __restrict__ row_exp, unsigned rows, unsigned k,
                                  unsigned rows_per_block) {
  grid_dependency();
  const unsigned j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= k) return;
  const unsigned r0 = last_rows_first() * rows_per_block;
  const unsigned r1 = min(rows, r0 + rows_per_block);
  u32 m = 0;
  for (unsigned r = r0; r < r1; ++r) {
    const u32 b = __float_as_uint(x[(size_t)r * k + j]) & 0x7fffffffu;
    m = max(m, row_exp ? normalized(b, row_exp[r]) : b);
  }
  atomicMax(&bits[j], m);
}

// absmax of f16 x: thread j2 takes channels 2·j2 and 2·j2 + 1 (one 4-byte load a row; the
// per-half max of the bits of |x| is the max of the values, as above), then widens the two
// maxima exactly; where row_exp is not null, each element is widened and `normalized` by its
// row's exponent first. k even. grid: (k / 512, row blocks).
extern "C" __global__ void absmax_h(const u32* __restrict__ x, u32* __restrict__ bits,
                                    const u32* __restrict__ row_exp, unsigned rows, unsigned k,
                                    unsigned rows_per_block) {
  grid_dependency();
  const unsigned j2 = blockIdx.x * blockDim.x + threadIdx.x, k2 = k / 2;
  if (j2 >= k2) return;
  const unsigned r0 = last_rows_first() * rows_per_block;
  const unsigned r1 = min(rows, r0 + rows_per_block);
  u32 m0 = 0, m1 = 0;
  if (row_exp) {
    for (unsigned r = r0; r < r1; ++r) {
      const u32 w = x[(size_t)r * k2 + j2] & 0x7fff7fffu, e = row_exp[r];
      m0 = max(m0, normalized(__float_as_uint(half_to_float(w & 0xFFFFu)), e));
      m1 = max(m1, normalized(__float_as_uint(half_to_float(w >> 16)), e));
    }
  } else {
    u32 m = 0;
    for (unsigned r = r0; r < r1; ++r) m = __vmaxu2(m, x[(size_t)r * k2 + j2] & 0x7fff7fffu);
    m0 = __float_as_uint(half_to_float(m & 0xFFFFu));
    m1 = __float_as_uint(half_to_float(m >> 16));
  }
  atomicMax(&bits[2 * j2], m0);
  atomicMax(&bits[2 * j2 + 1], m1);
}

// perm[rank(j)] = j with rank(j) = #{i : key_i > key_j} + #{i < j : key_i == key_j}.
// A block ranks 32 · C channels jb … jb + 32C − 1 (C a lane, channel jb + 32c + lane); its
// WARPS warps split the k keys compared against into slices and add their counts. Keys
// before jb count when ≥ the channel's (ties before it), keys from jb + 32C on when >, and
// the 32C between by the general rule, so that most comparisons are one instruction.
// STAGED: the keys are first copied into shared memory and read there.
// H200, k = 8192 (Nsight Compute): 16.2–16.7 µs at C = 2, 32 warps, where one channel a
// lane, 8 warps and a compare of (key, index) pairs for every key took 33.8–34.4 µs (24% of
// warps active, 256 blocks); C = 1 20.1–20.3, C = 4 24.3–24.6, 16 warps 16.5–16.8, 8 warps
// 17.9–18.1; keys read from device memory 18.8 (the fallback for k past shared memory).
// grid: ceil(k / (32 · C)) blocks of 32 · WARPS threads; dynamic shared memory
// 4 · (WARPS · 32C + k) bytes staged, 4 · WARPS · 32C otherwise.
template <int C, int WARPS, bool STAGED>
__device__ __forceinline__ void rank_sort_body(const u32* __restrict__ bits, u32* __restrict__ perm,
                                               unsigned k) {
  // Dynamic shared memory: the warps' counts (WARPS · 32C words), then the keys (STAGED).
  extern __shared__ u32 smem[];
  unsigned (*partial)[32 * C] = reinterpret_cast<unsigned (*)[32 * C]>(smem);
  u32* staged_keys = smem + WARPS * 32 * C;
  const unsigned lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const unsigned jb = blockIdx.x * 32 * C;
  if constexpr (STAGED) {
    for (unsigned i = threadIdx.x; i < k; i += 32 * WARPS) staged_keys[i] = bits[i];
    __syncthreads();
  }
  const u32* keys = STAGED ? staged_keys : bits;
  u32 key[C];
  unsigned rank[C];
#pragma unroll
  for (int c = 0; c < C; ++c) {
    const unsigned j = jb + 32 * c + lane;
    key[c] = j < k ? bits[j] : 0u;
    rank[c] = 0;
  }
  const unsigned span = (k + WARPS - 1) / WARPS;
  const unsigned lo = min(k, warp * span), hi = min(k, lo + span);
  const unsigned b0 = min(max(jb, lo), hi), b1 = min(max(jb + 32 * C, lo), hi);
  // Every lane reads the same key (one broadcast load per warp).
#pragma unroll 8
  for (unsigned i = lo; i < b0; ++i) {
    const u32 o = keys[i];
#pragma unroll
    for (int c = 0; c < C; ++c) rank[c] += o >= key[c];
  }
  for (unsigned i = b0; i < b1; ++i) {
    const u32 o = keys[i];
#pragma unroll
    for (int c = 0; c < C; ++c) rank[c] += (o > key[c]) | ((o == key[c]) & (i < jb + 32 * c + lane));
  }
#pragma unroll 8
  for (unsigned i = b1; i < hi; ++i) {
    const u32 o = keys[i];
#pragma unroll
    for (int c = 0; c < C; ++c) rank[c] += o > key[c];
  }
#pragma unroll
  for (int c = 0; c < C; ++c) partial[warp][lane + 32 * c] = rank[c];
  __syncthreads();
  if (warp != 0) return;
#pragma unroll
  for (int c = 0; c < C; ++c) {
    const unsigned j = jb + 32 * c + lane;
    if (j >= k) break;
    unsigned r = 0;
#pragma unroll
    for (unsigned w = 0; w < WARPS; ++w) r += partial[w][lane + 32 * c];
    perm[r] = j;
  }
}
#define RANK_C 2
#define RANK_WARPS 32
RRS_HOST_CHECK(RRS_HOST_RANK_CHANNELS == 32 * RANK_C && RRS_HOST_RANK_THREADS == 32 * RANK_WARPS,
               "rank_sort's block");
extern "C" __global__ void __launch_bounds__(32 * RANK_WARPS)
    rank_sort(const u32* __restrict__ bits, u32* __restrict__ perm, unsigned k) {
  grid_dependency();
  rank_sort_body<RANK_C, RANK_WARPS, true>(bits, perm, k);
}
extern "C" __global__ void __launch_bounds__(32 * RANK_WARPS)
    rank_sort_global(const u32* __restrict__ bits, u32* __restrict__ perm, unsigned k) {
  grid_dependency();
  rank_sort_body<RANK_C, RANK_WARPS, false>(bits, perm, k);
}

// scales[g] = max over the group's channels, clamped to [min_scale, max_scale] when finite
// and rounded up to 24 - bitlen(64 group - 1) significant bits (channel_max::round_scale);
// inv[g] = 1 / scales[g] (IEEE division), 0 when not finite; status bit 0: not finite.
// One warp per group (its lanes stride over the channels, then a max across the warp): one
// thread per group walking 128 dependent loads took about 50 µs on the H200.
// grid: ceil((k / group) / 8) blocks of 256.
extern "C" __global__ void group_scales(const u32* __restrict__ bits, const u32* __restrict__ perm,
                                        float* __restrict__ scales, float* __restrict__ inv,
                                        u32* __restrict__ status, unsigned k, unsigned group,
                                        float min_scale, float max_scale) {
  grid_dependency();
  const unsigned g = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (g >= k / group) return;  // the whole warp
  u32 m = 0;
  for (unsigned q = g * group + lane; q < (g + 1) * group; q += 32) m = max(m, bits[min(perm[q], k - 1)]);
  for (int o = 16; o > 0; o >>= 1) m = max(m, __shfl_xor_sync(0xffffffffu, m, o));
  if (lane != 0) return;
  float s = __uint_as_float(m);
  if (m >= 0x7f800000u) {
    atomicOr(status, 1u);
    scales[g] = s;
    inv[g] = 0.0f;
  } else {
    s = fminf(fmaxf(s, min_scale), max_scale);
    const unsigned drop = min(32 - __clz(64 * group - 1), 23), mask = (1u << drop) - 1;
    s = __uint_as_float((__float_as_uint(s) + mask) & ~mask);
    scales[g] = s;
    inv[g] = __fdiv_rn(1.0f, s);
  }
}
