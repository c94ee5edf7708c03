// A4W4 GEMM with Runtime Smooth's per-K-group scales:
//   y[i, j] = (sa[i] · sw[j]) · Σ_g gs[g] · P_g[i, j],   P_g = Σ_{k in group g} a[i, k] · w[j, k]
// a: [m, k / 8] u32, w: [n, k / 8] u32 (INT4, 8 codes per word, lower index in the lower nibble),
// sa: [m], sw: [n], gs: [k / group] or null (all 1). The integer partial sums are exact in i32;
// each group's sum is scaled and added in f32 once the group is complete.
//
// Tensor-core kernels: 128×128 output tiles, 8 warps of 64×32, K steps of 64 codes (needs
// k % 64 == 0 and group % 64 == 0; the host falls back to `gemm_simt` otherwise):
//   INT8 = 0: `mma.sync.aligned.m16n8k64.row.col.s32.s4.s4.s32` on the packed words as they are
//             (INT4 tensor cores: sm_75 to sm_89);
//   INT8 = 1: the words unpacked to s8 on their way into shared memory, then
//             `mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32` (sm_80+; Hopper has no INT4 MMA).
#define BM 128
#define BN 128
#define BK 64
#define GEMM_THREADS 256

__device__ __forceinline__ void mma_s4(int (&c)[4], const u32 (&a)[4], const u32 (&b)[2]) {
  asm volatile(
      "mma.sync.aligned.m16n8k64.row.col.s32.s4.s4.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

__device__ __forceinline__ void mma_s8(int (&c)[4], const u32 (&a)[4], const u32 (&b)[2]) {
  asm volatile(
      "mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

// Words per shared-memory row: the K step's codes plus padding that makes the fragment loads
// of a warp (8 rows × 4 words) hit 32 different banks.
template <int INT8> struct Layout {
  static constexpr int WORDS = INT8 ? BK / 4 : BK / 8;  // s8: 4 codes per word; s4: 8
  static constexpr int STRIDE = INT8 ? 20 : 12;
};

template <int INT8>
__device__ __forceinline__ void gemm_body(const u32* __restrict__ a, const u32* __restrict__ w,
                                          const float* __restrict__ sa, const float* __restrict__ sw,
                                          const float* __restrict__ gs, float* __restrict__ y,
                                          unsigned m, unsigned n, unsigned k, unsigned group) {
  using L = Layout<INT8>;
  __shared__ u32 as[BM * L::STRIDE];
  __shared__ u32 ws[BN * L::STRIDE];
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int g = lane >> 2, t4 = lane & 3;
  const int wm = (warp >> 2) * 64, wn = (warp & 3) * 32;  // the warp's 64×32 sub-tile
  const unsigned i0 = blockIdx.y * BM, j0 = blockIdx.x * BN;
  const unsigned kw = k / 8;

  // Global → registers: each thread loads one row's 8 words (64 codes) of either operand? No:
  // 128 rows × 8 words = 1024 words per operand = 4 words per thread (one uint4).
  const int lrow = tid >> 1, lcol = (tid & 1) * 4;  // row 0..127, words 0 or 4
  const bool arow_ok = i0 + lrow < m, wrow_ok = j0 + lrow < n;
  const uint4* ag = reinterpret_cast<const uint4*>(a + (size_t)(i0 + lrow) * kw + lcol);
  const uint4* wg = reinterpret_cast<const uint4*>(w + (size_t)(j0 + lrow) * kw + lcol);
  const uint4 zero = make_uint4(0, 0, 0, 0);
  uint4 an = arow_ok ? ag[0] : zero, wnx = wrow_ok ? wg[0] : zero;

  int acc[4][4][4];
  float out[4][4][4];
#pragma unroll
  for (int x = 0; x < 4; ++x)
#pragma unroll
    for (int z = 0; z < 4; ++z)
#pragma unroll
      for (int c = 0; c < 4; ++c) acc[x][z][c] = 0, out[x][z][c] = 0.0f;

  for (unsigned k0 = 0; k0 < k; k0 += BK) {
    __syncthreads();
    // Registers → shared memory (unpacked to s8 for the INT8 path).
    const u32 av[4] = {an.x, an.y, an.z, an.w}, wv[4] = {wnx.x, wnx.y, wnx.z, wnx.w};
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      if (INT8) {
        as[lrow * L::STRIDE + 2 * (lcol + q)] = nibbles_to_s8x4(av[q]);
        as[lrow * L::STRIDE + 2 * (lcol + q) + 1] = nibbles_to_s8x4(av[q] >> 16);
        ws[lrow * L::STRIDE + 2 * (lcol + q)] = nibbles_to_s8x4(wv[q]);
        ws[lrow * L::STRIDE + 2 * (lcol + q) + 1] = nibbles_to_s8x4(wv[q] >> 16);
      } else {
        as[lrow * L::STRIDE + lcol + q] = av[q];
        ws[lrow * L::STRIDE + lcol + q] = wv[q];
      }
    }
    __syncthreads();
    // Prefetch the next K step while this one computes.
    if (k0 + BK < k) {
      an = arow_ok ? ag[(k0 + BK) / 32] : zero;
      wnx = wrow_ok ? wg[(k0 + BK) / 32] : zero;
    }
    // Tensor cores: s4 takes the 64 codes in one k64 MMA; s8 in two k32 MMAs.
#pragma unroll
    for (int ks = 0; ks < (INT8 ? 2 : 1); ++ks) {
      const int kb = ks * 8;  // word offset of the k32 half (s8 words)
      u32 bf[4][2];
#pragma unroll
      for (int z = 0; z < 4; ++z) {
        const u32* r = ws + (wn + z * 8 + g) * L::STRIDE + kb + t4;
        bf[z][0] = r[0];
        bf[z][1] = r[4];
      }
#pragma unroll
      for (int x = 0; x < 4; ++x) {
        const u32* r0 = as + (wm + x * 16 + g) * L::STRIDE + kb + t4;
        const u32* r1 = r0 + 8 * L::STRIDE;
        const u32 af[4] = {r0[0], r1[0], r0[4], r1[4]};
#pragma unroll
        for (int z = 0; z < 4; ++z) {
          if (INT8)
            mma_s8(acc[x][z], af, bf[z]);
          else
            mma_s4(acc[x][z], af, bf[z]);
        }
      }
    }
    // A complete group: scale its integer sums into the f32 accumulators.
    if (gs && (k0 + BK) % group == 0) {
      const float s = gs[k0 / group];
#pragma unroll
      for (int x = 0; x < 4; ++x)
#pragma unroll
        for (int z = 0; z < 4; ++z)
#pragma unroll
          for (int c = 0; c < 4; ++c) {
            out[x][z][c] += s * (float)acc[x][z][c];
            acc[x][z][c] = 0;
          }
    }
  }
  // Epilogue: c0, c1 at (row g, cols 2·t4, +1), c2, c3 at row g + 8.
#pragma unroll
  for (int x = 0; x < 4; ++x)
#pragma unroll
    for (int z = 0; z < 4; ++z)
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        const unsigned i = i0 + wm + x * 16 + g + (c >> 1) * 8;
        const unsigned j = j0 + wn + z * 8 + 2 * t4 + (c & 1);
        if (i < m && j < n) {
          const float v = gs ? out[x][z][c] : (float)acc[x][z][c];
          y[(size_t)i * n + j] = sa[i] * sw[j] * v;
        }
      }
}

extern "C" __global__ void __launch_bounds__(GEMM_THREADS)
    gemm_int4(const u32* a, const u32* w, const float* sa, const float* sw, const float* gs,
              float* y, unsigned m, unsigned n, unsigned k, unsigned group) {
  gemm_body<0>(a, w, sa, sw, gs, y, m, n, k, group);
}

extern "C" __global__ void __launch_bounds__(GEMM_THREADS)
    gemm_int8(const u32* a, const u32* w, const float* sa, const float* sw, const float* gs,
              float* y, unsigned m, unsigned n, unsigned k, unsigned group) {
  gemm_body<1>(a, w, sa, sw, gs, y, m, n, k, group);
}

// Any shape (k % 8 == 0, group % 8 == 0 or group == k): one thread per output, dp4a on CUDA
// cores. Used where the tensor-core kernels' K step does not fit k or the group.
extern "C" __global__ void gemm_simt(const u32* __restrict__ a, const u32* __restrict__ w,
                                     const float* __restrict__ sa, const float* __restrict__ sw,
                                     const float* __restrict__ gs, float* __restrict__ y,
                                     unsigned m, unsigned n, unsigned k, unsigned group) {
  const unsigned j = blockIdx.x * blockDim.x + threadIdx.x, i = blockIdx.y;
  if (j >= n || i >= m) return;
  const unsigned kw = k / 8;
  const u32* ar = a + (size_t)i * kw;
  const u32* wr = w + (size_t)j * kw;
  float total = 0.0f;
  int part = 0;
  for (unsigned q = 0; q < kw; ++q) {
    part += dot8(ar[q], wr[q]);
    if (gs && (8 * (q + 1)) % group == 0) {
      total += gs[8 * q / group] * (float)part;
      part = 0;
    }
  }
  y[(size_t)i * n + j] = sa[i] * sw[j] * (gs ? total : (float)part);
}

// Decode (m ≤ 16): memory bound, each weight word is read once. One warp per output column;
// lanes stride over the row 4 words (32 codes) at a time, so k % 32 == 0 and group % 32 == 0
// (or no group scales). The activations (m·k/2 bytes) stay in L1/L2.
#define GEMV_WARPS 8
extern "C" __global__ void __launch_bounds__(GEMV_WARPS * 32)
    gemv(const u32* __restrict__ a, const u32* __restrict__ w, const float* __restrict__ sa,
         const float* __restrict__ sw, const float* __restrict__ gs, float* __restrict__ y,
         unsigned m, unsigned n, unsigned k, unsigned group) {
  const unsigned j = blockIdx.x * GEMV_WARPS + (threadIdx.x >> 5), lane = threadIdx.x & 31;
  if (j >= n) return;
  const unsigned k4 = k / 32;  // uint4 per row
  const uint4* wr = reinterpret_cast<const uint4*>(w + (size_t)j * (k / 8));
  float acc[16];
#pragma unroll
  for (int i = 0; i < 16; ++i) acc[i] = 0.0f;
  for (unsigned q = lane; q < k4; q += 32) {
    const uint4 wv = wr[q];
    const float s = gs ? gs[32 * q / group] : 1.0f;
#pragma unroll
    for (int i = 0; i < 16; ++i) {
      if (i < (int)m) {
        const uint4 av = reinterpret_cast<const uint4*>(a + (size_t)i * (k / 8))[q];
        const int d = dot8(av.x, wv.x) + dot8(av.y, wv.y) + dot8(av.z, wv.z) + dot8(av.w, wv.w);
        acc[i] += s * (float)d;
      }
    }
  }
#pragma unroll
  for (int i = 0; i < 16; ++i) {
    if (i < (int)m) {
      float v = acc[i];
      for (int h = 16; h > 0; h >>= 1) v += __shfl_xor_sync(0xffffffffu, v, h);
      if (lane == 0) y[(size_t)i * n + j] = sa[i] * sw[j] * v;
    }
  }
}
