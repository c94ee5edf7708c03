// Runtime Smooth's statistics: per-channel max |x| over the tokens, the channel order by that
// max (descending, ties by index: a rank sort, the same permutation as the CPU reference), and
// one scale per group of `group` reordered channels. x is f32 (`absmax`) or f16 (`absmax_h`).

// bits[j] = max over rows of the bits of |x[i, j]| (max of the bits = max of the floats for
// non-negative values; NaN has the largest bits and propagates). grid: (k / 256, row blocks).
extern "C" __global__ void absmax(const float* __restrict__ x, u32* __restrict__ bits,
                                  unsigned rows, unsigned k, unsigned rows_per_block) {
  const unsigned j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= k) return;
  const unsigned r0 = blockIdx.y * rows_per_block;
  const unsigned r1 = min(rows, r0 + rows_per_block);
  u32 m = 0;
  for (unsigned r = r0; r < r1; ++r) m = max(m, __float_as_uint(x[(size_t)r * k + j]) & 0x7fffffffu);
  atomicMax(&bits[j], m);
}

// absmax of f16 x: thread j2 takes channels 2·j2 and 2·j2 + 1 (one 4-byte load a row; the
// per-half max of the bits of |x| is the max of the values, as above), then widens the two
// maxima exactly. k even. grid: (k / 512, row blocks).
extern "C" __global__ void absmax_h(const u32* __restrict__ x, u32* __restrict__ bits,
                                    unsigned rows, unsigned k, unsigned rows_per_block) {
  const unsigned j2 = blockIdx.x * blockDim.x + threadIdx.x, k2 = k / 2;
  if (j2 >= k2) return;
  const unsigned r0 = blockIdx.y * rows_per_block;
  const unsigned r1 = min(rows, r0 + rows_per_block);
  u32 m = 0;
  for (unsigned r = r0; r < r1; ++r) m = __vmaxu2(m, x[(size_t)r * k2 + j2] & 0x7fff7fffu);
  atomicMax(&bits[2 * j2], __float_as_uint(half_to_float(m & 0xFFFFu)));
  atomicMax(&bits[2 * j2 + 1], __float_as_uint(half_to_float(m >> 16)));
}

// perm[rank(j)] = j with rank(j) = #{i : key_i > key_j} + #{i < j : key_i == key_j}.
// A block ranks 32 channels (one per lane); its 8 warps split the k keys compared against
// into slices and add their counts, so k = 8192 runs 256 blocks of 1024 comparisons per
// thread rather than 32 blocks of 8192. grid: ceil(k / 32) blocks of RANK_THREADS.
#define RANK_THREADS 256
extern "C" __global__ void __launch_bounds__(RANK_THREADS)
    rank_sort(const u32* __restrict__ bits, u32* __restrict__ perm, unsigned k) {
  constexpr unsigned WARPS = RANK_THREADS / 32;
  __shared__ unsigned partial[WARPS][32];
  const unsigned lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const unsigned j = blockIdx.x * 32 + lane;
  const u32 key = j < k ? bits[j] : 0u;
  const unsigned span = (k + WARPS - 1) / WARPS;
  const unsigned lo = min(k, warp * span), hi = min(k, lo + span);
  unsigned rank = 0;
  // Every lane reads the same key (one broadcast load per warp).
#pragma unroll 8
  for (unsigned i = lo; i < hi; ++i) {
    const u32 o = __ldg(bits + i);
    rank += (o > key) | ((o == key) & (i < j));
  }
  partial[warp][lane] = rank;
  __syncthreads();
  if (warp == 0 && j < k) {
    unsigned r = 0;
#pragma unroll
    for (unsigned w = 0; w < WARPS; ++w) r += partial[w][lane];
    perm[r] = j;
  }
}

// scales[g] = max over the group's channels, clamped to [min_scale, max_scale] when finite;
// inv[g] = 1 / scales[g] (IEEE division), 0 when not finite; status bit 0: not finite.
// One warp per group (its lanes stride over the channels, then a max across the warp): one
// thread per group walking 128 dependent loads took about 50 µs on the H200.
// grid: ceil((k / group) / 8) blocks of 256.
extern "C" __global__ void group_scales(const u32* __restrict__ bits, const u32* __restrict__ perm,
                                        float* __restrict__ scales, float* __restrict__ inv,
                                        u32* __restrict__ status, unsigned k, unsigned group,
                                        float min_scale, float max_scale) {
  const unsigned g = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (g >= k / group) return;  // the whole warp
  u32 m = 0;
  for (unsigned q = g * group + lane; q < (g + 1) * group; q += 32) m = max(m, bits[perm[q]]);
  for (int o = 16; o > 0; o >>= 1) m = max(m, __shfl_xor_sync(0xffffffffu, m, o));
  if (lane != 0) return;
  float s = __uint_as_float(m);
  if (m >= 0x7f800000u) {
    atomicOr(status, 1u);
    scales[g] = s;
    inv[g] = 0.0f;
  } else {
    s = fminf(fmaxf(s, min_scale), max_scale);
    scales[g] = s;
    inv[g] = __fdiv_rn(1.0f, s);
  }
}
