// A4W4 GEMM with Runtime Smooth's per-K-group scales:
//   y[i, j] = (sa[i] · sw[j]) · Σ_g gs[g] · P_g[i, j],   P_g = Σ_{k in group g} a[i, k] · w[j, k]
// a: [m, k / 8] u32, w: [n, k / 8] u32 (INT4, 8 codes per word, lower index in the lower nibble),
// sa: [m], sw: [n], gs: [k / group] or null (all 1). The integer partial sums are exact in i32;
// each group's sum is scaled and added in f32 once the group is complete.
//
// Tensor-core kernels: 128×128 output tiles, 8 warps of 64×32, K steps of 128 or 64 codes
// (needs k and the group to be multiples of the step; the host falls back to `gemm_simt`
// otherwise). The packed words go from global to shared memory as they are, GEMM_STAGES
// steps in flight (`cp.async`, sm_80+), and each thread reads its fragments' words from
// shared memory with one vector load per row, then:
//   INT8 = 0: `mma.sync.aligned.m16n8k64.row.col.s32.s4.s4.s32` on the words as they are
//             (INT4 tensor cores: sm_75 to sm_89);
//   INT8 = 1: each word unpacked to s8 in registers, then
//             `mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32` (sm_80+; Hopper has no INT4
//             MMA).
// The sum over k is order-free, so a thread's fragments hold the codes in the order it loads
// them, the same order for A and W: in a step, thread t4 of a quad loads words
// WPT·t4 … WPT·t4 + WPT − 1 of its rows (WPT = step / 32). INT8: MMA c takes word c of each
// thread, its even nibbles as the fragment's k = 4·t4 + 0…3 and its odd nibbles as
// k = 16 + 4·t4 + 0…3. Both operands are expanded as 16·code (the nibble in the high half of
// each byte: two instructions per word, not four), so the integer sums are 256× the true
// ones, exactly: the plain kernel shifts them back at the end, the scaled ones fold the 2^-8
// into the group scale. INT4: MMA c takes words 2c and 2c + 1 as the fragment's
// k = 8·t4 + 0…7 and 32 + 8·t4 + 0…7.
// Measured on the H200 at 8192³ (INT8 path): plain 2.50 → 1.55 ms, group scales 3.74 →
// 2.07 ms against the previous kernel, which unpacked to s8 on the way into two shared-memory
// stages and loaded fragments with `ldmatrix`.
#define BM 128
#define BN 128
#define GEMM_THREADS 256
// K steps in flight: 4 on sm_90 (64 KiB of shared memory per block at K step 128, two blocks
// per SM); 3 below, so that two blocks fit the 100 KiB of sm_86/sm_89 (not measured there).
// The host mirrors this in `gemm_stages`.
#if __CUDA_ARCH__ >= 900
#define GEMM_STAGES 4
#else
#define GEMM_STAGES 3
#endif
RRS_HOST_CHECK(RRS_HOST_GEMM_STAGES == GEMM_STAGES, "gemm_stages");

// Exact i32 → f32 for |v| < 2^22 (the dp4a GEMV's partial sums of 32 codes) with an
// integer add and a float subtract instead of a conversion.
__device__ __forceinline__ float small_int_to_float(int v) {
  return __int_as_float(v + 0x4B400000) - 12582912.0f;
}

// m16n8k64 (s4) and m16n8k32 (s8) are sm_80+; on sm_75 (Turing) each is four m8n8 MMAs over
// the same fragments: rows g and g + 8 (a0/a2, a1/a3) times the two K halves (b0, b1).
#if __CUDA_ARCH__ >= 800
#define MMA_M16N8(M16, M8, TYPE, c, a, b)                                                   \
  asm volatile("mma.sync.aligned." M16 ".row.col.s32." TYPE "." TYPE                          \
               ".s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"                \
               : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])                              \
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]))
#else
#define MMA_M8(M8, TYPE, c0, c1, a, b)                                                       \
  asm volatile("mma.sync.aligned." M8 ".row.col.s32." TYPE "." TYPE                           \
               ".s32 {%0,%1}, {%2}, {%3}, {%0,%1};\n"                                        \
               : "+r"(c0), "+r"(c1)                                                          \
               : "r"(a), "r"(b))
#define MMA_M16N8(M16, M8, TYPE, c, a, b)                                                   \
  do {                                                                                       \
    MMA_M8(M8, TYPE, c[0], c[1], a[0], b[0]);                                                \
    MMA_M8(M8, TYPE, c[0], c[1], a[2], b[1]);                                                \
    MMA_M8(M8, TYPE, c[2], c[3], a[1], b[0]);                                                \
    MMA_M8(M8, TYPE, c[2], c[3], a[3], b[1]);                                                \
  } while (0)
#endif

__device__ __forceinline__ void mma_s4(int (&c)[4], const u32 (&a)[4], const u32 (&b)[2]) {
  MMA_M16N8("m16n8k64", "m8n8k32", "s4", c, a, b);
}

__device__ __forceinline__ void mma_s8(int (&c)[4], const u32 (&a)[4], const u32 (&b)[2]) {
  MMA_M16N8("m16n8k32", "m8n8k16", "s8", c, a, b);
}

// Shared memory: GEMM_STAGES stages of [A rows | W rows], BM rows each of the step's packed
// codes (BKT / 2 bytes, unpadded: a quarter warp's 16-byte loads (BKT = 128) or a half
// warp's 8-byte loads (BKT = 64) cover 128 consecutive bytes, all 32 banks once).
template <int BKT> struct Layout {
  static constexpr int ROW_BYTES = BKT / 2;
  static constexpr int OPERAND_BYTES = BM * ROW_BYTES;
  static constexpr int SMEM_BYTES = GEMM_STAGES * 2 * OPERAND_BYTES;
};

// A thread's WPT words of one row in one step (one vector load).
template <int WPT> struct Words { u32 v[WPT]; };
template <int WPT> __device__ __forceinline__ Words<WPT> load_words(const unsigned char* p) {
  Words<WPT> r;
  if constexpr (WPT == 4) {
    const uint4 q = *reinterpret_cast<const uint4*>(p);
    r.v[0] = q.x, r.v[1] = q.y, r.v[2] = q.z, r.v[3] = q.w;
  } else {
    static_assert(WPT == 2, "a step is 64 or 128 codes");
    const uint2 q = *reinterpret_cast<const uint2*>(p);
    r.v[0] = q.x, r.v[1] = q.y;
  }
  return r;
}

// SCALED = 0: gs is null (plain A4W4): no f32 accumulators, so fewer registers; the integer
// sums must fit i32 (INT8: 256 · 64 · k, so k ≤ 65536, the host passes larger k to the scaled
// kernel with unit scales; INT4: 64 · k). Every kernel needs k < 2^26 (32-bit offsets).
// SCALED = 1: each group's sum is scaled by gs[g] (1 where gs is null) and added in f32 once
// the group is complete (or at the end of k).
// SCALED = 2: the same where the group is the K step (gs not null): every step folds.
template <int INT8, int BKT, int SCALED>
__device__ __forceinline__ void gemm_body(const u32* __restrict__ a, const u32* __restrict__ w,
                                          const float* __restrict__ sa, const float* __restrict__ sw,
                                          const float* __restrict__ gs, float* __restrict__ y,
                                          unsigned m, unsigned n, unsigned k, unsigned group,
                                          unsigned band) {
  using L = Layout<BKT>;
  constexpr int WPT = BKT / 32;                        // words per thread, row and step
  constexpr int CHUNKS = L::ROW_BYTES / 16;            // 16-byte copies per row
  constexpr int COPIES = BM * CHUNKS / GEMM_THREADS;   // per thread and operand
  constexpr int SHIFT = INT8 ? 8 : 0;                  // the ×256 of the INT8 operands
  extern __shared__ __align__(16) unsigned char smem[];
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int g = lane >> 2, t4 = lane & 3;
  const int wm = (warp >> 2) * 64, wn = (warp & 3) * 32;  // the warp's 64×32 sub-tile
  // The grid is tiles_n × tiles_m blocks, launched in order of the linear block index; the
  // block of index t takes the t-th tile of `banded_tile`'s order. H200, INT8 path, two runs
  // each in one command, ms, row-major → bands of 8: with group scales 4096 × 28672 × 8192
  // (packed W past the L2) 3.389–3.397 → 3.266–3.271; N = K = 8192 and 4096 × 8192 × 28672
  // within 0.5% either way (this kernel is further from the memory's limits than wgmma's).
  unsigned i0, j0;
  banded_tile(blockIdx.x + blockIdx.y * gridDim.x, gridDim.y, gridDim.x, band, i0, j0);
  i0 *= BM, j0 *= BN;
  const size_t row_bytes = (size_t)k / 2;
  const unsigned steps = k / BKT;

  // This thread's copies: (row, chunk) of each operand. Rows past m or n read the last row
  // instead (in range; their outputs are never written).
  // Offsets within the block's 128 rows (< 2^32 bytes: k < 2^26) from uniform bases.
  const unsigned char* abase = reinterpret_cast<const unsigned char*>(a) + i0 * row_bytes;
  const unsigned char* wbase = reinterpret_cast<const unsigned char*>(w) + j0 * row_bytes;
  u32 aoff[COPIES], woff[COPIES];
#pragma unroll
  for (int l = 0; l < COPIES; ++l) {
    const unsigned idx = tid + l * GEMM_THREADS, row = idx / CHUNKS, q = idx % CHUNKS;
    aoff[l] = min(row, m - 1 - i0) * (u32)row_bytes + q * 16;
    woff[l] = min(row, n - 1 - j0) * (u32)row_bytes + q * 16;
  }
  // Issue step s's copies into its stage (one commit group per step, empty past the end).
  auto issue = [&](unsigned s) {
    if (s < steps) {
      unsigned char* as = smem + (s % GEMM_STAGES) * 2 * L::OPERAND_BYTES;
      const size_t off = (size_t)s * L::ROW_BYTES;
#pragma unroll
      for (int l = 0; l < COPIES; ++l) {
        const int d = (tid + l * GEMM_THREADS) * 16;  // = row · ROW_BYTES + chunk · 16
        copy16(as + d, abase + off + aoff[l]);
        copy16(as + L::OPERAND_BYTES + d, wbase + off + woff[l]);
      }
    }
    async_commit();
  };

  int acc[4][4][4];
  float out[4][4][4];
#pragma unroll
  for (int x = 0; x < 4; ++x)
#pragma unroll
    for (int z = 0; z < 4; ++z)
#pragma unroll
      for (int c = 0; c < 4; ++c) acc[x][z][c] = 0, out[x][z][c] = 0.0f;
  // Scale sub-tile x's integer sums into its f32 accumulators, and restart them. The sums
  // are 2^SHIFT × the true ones and convert to f32 exactly (multiples of 2^SHIFT below 2^31)
  // or round as the reference's `as f32` does (INT4 sums of 2^24 and more); sc carries the
  // 2^-SHIFT (exact for scales of 2^-118 and more). `I2FP` measured faster on the H200 than
  // the integer-add conversion, which needs the shift first (2.07 against 2.30 ms, 8192³).
  auto fold = [&](int x, float sc) {
#pragma unroll
    for (int z = 0; z < 4; ++z)
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        // One fused multiply-add: the CPU reference's rounding.
        out[x][z][c] = __fmaf_rn(sc, (float)acc[x][z][c], out[x][z][c]);
        acc[x][z][c] = 0;
      }
  };

#pragma unroll
  for (int s = 0; s < GEMM_STAGES - 1; ++s) issue(s);
  for (unsigned s = 0; s < steps; ++s) {
    async_wait<GEMM_STAGES - 2>();  // step s has landed (this thread's copies) ...
    __syncthreads();                // ... everyone's, and step s − 1's stage is free again
    issue(s + GEMM_STAGES - 1);
    const unsigned k1 = (s + 1) * BKT;  // codes done after this step
    // SCALED = 2 (group == step): every step completes a group.
    const bool complete = SCALED == 2 || (SCALED == 1 && (k1 % group == 0 || k1 == k));
    const float sc = (SCALED == 2 ? gs[s] : gs && complete ? gs[(k1 - 1) / group] : 1.0f) *
                     (1.0f / (1 << SHIFT));
    const unsigned char* as = smem + (s % GEMM_STAGES) * 2 * L::OPERAND_BYTES;
    const unsigned char* ws = as + L::OPERAND_BYTES;
    Words<WPT> bw[4];
#pragma unroll
    for (int z = 0; z < 4; ++z) bw[z] = load_words<WPT>(ws + (wn + z * 8 + g) * L::ROW_BYTES + t4 * WPT * 4);
#pragma unroll
    for (int x = 0; x < 4; ++x) {
      const Words<WPT> r0 = load_words<WPT>(as + (wm + x * 16 + g) * L::ROW_BYTES + t4 * WPT * 4);
      const Words<WPT> r1 = load_words<WPT>(as + (wm + x * 16 + g + 8) * L::ROW_BYTES + t4 * WPT * 4);
      if (INT8) {
#pragma unroll
        for (int c = 0; c < WPT; ++c) {
          const u32 af[4] = {even_nibbles_x16(r0.v[c]), even_nibbles_x16(r1.v[c]),
                             odd_nibbles_x16(r0.v[c]), odd_nibbles_x16(r1.v[c])};
#pragma unroll
          for (int z = 0; z < 4; ++z) {
            const u32 bf[2] = {even_nibbles_x16(bw[z].v[c]), odd_nibbles_x16(bw[z].v[c])};
            mma_s8(acc[x][z], af, bf);
          }
        }
      } else {
#pragma unroll
        for (int c = 0; c < WPT; c += 2) {
          const u32 af[4] = {r0.v[c], r1.v[c], r0.v[c + 1], r1.v[c + 1]};
#pragma unroll
          for (int z = 0; z < 4; ++z) {
            const u32 bf[2] = {bw[z].v[c], bw[z].v[c + 1]};
            mma_s4(acc[x][z], af, bf);
          }
        }
      }
      // A complete group: fold this sub-tile while the tensor cores work on the next (with
      // SCALED = 2 unconditionally, so the compiler can interleave the two).
      if (SCALED == 2) fold(x, sc);
    }
    if (SCALED == 1 && complete) {
#pragma unroll
      for (int x = 0; x < 4; ++x) fold(x, sc);
    }
  }
  async_wait<0>();  // no copy outlives the block (the trailing groups are empty)
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
          const float v = SCALED ? out[x][z][c] : (float)(acc[x][z][c] >> SHIFT);
          y[(size_t)i * n + j] = sa[i] * sw[j] * v;
        }
      }
}

// Entry points: path × K step (128 where k and the group allow it, else 64). Every GEMM
// kernel (these, the decode and SIMT kernels below, gemm_wgmma.cu's) has this signature;
// the last argument is the band of tile columns of the tiled ones (`banded_tile`), unused
// by the others. Dynamic shared memory: Layout<BK>::SMEM_BYTES.
#define GEMM_ENTRY(NAME, INT8, BKT, SCALED, MINB)                                            \
  extern "C" __global__ void __launch_bounds__(GEMM_THREADS, MINB)                           \
      NAME(const u32* a, const u32* w, const float* sa, const float* sw, const float* gs,    \
           float* y, unsigned m, unsigned n, unsigned k, unsigned group, unsigned band) {    \
    grid_dependency();                                                                       \
    gemm_body<INT8, BKT, SCALED>(a, w, sa, sw, gs, y, m, n, k, group, band);                 \
  }
// <path>_k<step> with group scales, <path>_k<step>_step with groups of one step (the usual
// 128), <path>_k<step>_plain without. The plain kernels fit 128 registers, so two blocks
// share an SM; so do the `_step` ones, whose sub-tiles' integer sums live only within a step
// (2.07 against 2.33 ms at one block per SM, 8192³ on the H200, despite 48 bytes of spills).
// The general scaled ones keep 64 f32 accumulators besides the 64 integer ones.
#define GEMM_ENTRIES(PATH, INT8, BKT)                                                        \
  GEMM_ENTRY(gemm_##PATH##_k##BKT, INT8, BKT, 1, 1)                                          \
  GEMM_ENTRY(gemm_##PATH##_k##BKT##_step, INT8, BKT, 2, 2)                                   \
  GEMM_ENTRY(gemm_##PATH##_k##BKT##_plain, INT8, BKT, 0, 2)
GEMM_ENTRIES(int4, 0, 64)
GEMM_ENTRIES(int4, 0, 128)
GEMM_ENTRIES(int8, 1, 64)
GEMM_ENTRIES(int8, 1, 128)

// Any shape (k % 8 == 0, group % 8 == 0 or group == k): one thread per output, dp4a on CUDA
// cores. Used where the tensor-core kernels' K step does not fit k or the group.
extern "C" __global__ void gemm_simt(const u32* __restrict__ a, const u32* __restrict__ w,
                                     const float* __restrict__ sa, const float* __restrict__ sw,
                                     const float* __restrict__ gs, float* __restrict__ y,
                                     unsigned m, unsigned n, unsigned k, unsigned group,
                                     unsigned /* band: untiled */) {
  grid_dependency();
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
      total = __fmaf_rn(gs[8 * q / group], (float)part, total);
      part = 0;
    }
  }
  y[(size_t)i * n + j] = sa[i] * sw[j] * (gs ? total : (float)part);
}

// Decode (m ≤ 16) where the tensor-core kernel below does not fit k or the group (k and the
// group multiples of 32): memory bound on the weights, each weight word read once. A block stages
// a K-chunk of the activations in shared memory, unpacked to s8 (m × GEMV_KC bytes), and each
// of its warps owns GEMV_COLS output columns; lanes stride over the chunk 32 codes (one uint4
// of weights) at a time, so k % 32 == 0 and group % 32 == 0 (or no group scales). The
// weight loads of all the warp's columns are issued before any is used.
#define GEMV_WARPS 8
#define GEMV_COLS 4
#define GEMV_KC 2048
RRS_HOST_CHECK(RRS_HOST_DECODE_COLUMNS == GEMV_WARPS * GEMV_COLS, "DECODE_COLUMNS");

extern "C" __global__ void __launch_bounds__(GEMV_WARPS * 32)
    gemv(const u32* __restrict__ a, const u32* __restrict__ w, const float* __restrict__ sa,
         const float* __restrict__ sw, const float* __restrict__ gs, float* __restrict__ y,
         unsigned m, unsigned n, unsigned k, unsigned group, unsigned /* band: untiled */) {
  grid_dependency();
  __shared__ uint4 as[16 * GEMV_KC / 16];  // [m][GEMV_KC] s8
  const unsigned lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const unsigned j0 = (blockIdx.x * GEMV_WARPS + warp) * GEMV_COLS;
  float acc[GEMV_COLS][16];
#pragma unroll
  for (int c = 0; c < GEMV_COLS; ++c)
#pragma unroll
    for (int i = 0; i < 16; ++i) acc[c][i] = 0.0f;
  const unsigned kw = k / 8;
  for (unsigned kc = 0; kc < k; kc += GEMV_KC) {
    const unsigned len = min(GEMV_KC, k - kc);  // codes in this chunk (a multiple of 32)
    __syncthreads();
    // Stage: each packed word (8 codes) becomes two s8 words.
    u32* as32 = reinterpret_cast<u32*>(as);
    for (unsigned t = threadIdx.x; t < m * (len / 8); t += GEMV_WARPS * 32) {
      const unsigned i = t / (len / 8), q = t % (len / 8);
      const u32 v = a[(size_t)i * kw + kc / 8 + q];
      as32[i * (GEMV_KC / 4) + 2 * q] = nibbles_to_s8x4(v);
      as32[i * (GEMV_KC / 4) + 2 * q + 1] = nibbles_to_s8x4(v >> 16);
    }
    __syncthreads();
    for (unsigned q = lane; q < len / 32; q += 32) {
      uint4 wv[GEMV_COLS];
#pragma unroll
      for (int c = 0; c < GEMV_COLS; ++c)
        wv[c] = j0 + c < n ? reinterpret_cast<const uint4*>(w + (size_t)(j0 + c) * kw + kc / 8)[q]
                           : make_uint4(0, 0, 0, 0);
      const float s = gs ? gs[(kc + 32 * q) / group] : 1.0f;
#pragma unroll
      for (int c = 0; c < GEMV_COLS; ++c) {
        const u32 wx[4] = {wv[c].x, wv[c].y, wv[c].z, wv[c].w};
        u32 ws8[8];
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          ws8[2 * e] = nibbles_to_s8x4(wx[e]);
          ws8[2 * e + 1] = nibbles_to_s8x4(wx[e] >> 16);
        }
#pragma unroll
        for (int i = 0; i < 16; ++i) {
          if (i < (int)m) {
            const uint4 a0 = as[i * (GEMV_KC / 16) + 2 * q], a1 = as[i * (GEMV_KC / 16) + 2 * q + 1];
            int d = __dp4a((int)a0.x, (int)ws8[0], 0);
            d = __dp4a((int)a0.y, (int)ws8[1], d);
            d = __dp4a((int)a0.z, (int)ws8[2], d);
            d = __dp4a((int)a0.w, (int)ws8[3], d);
            d = __dp4a((int)a1.x, (int)ws8[4], d);
            d = __dp4a((int)a1.y, (int)ws8[5], d);
            d = __dp4a((int)a1.z, (int)ws8[6], d);
            d = __dp4a((int)a1.w, (int)ws8[7], d);
            acc[c][i] += s * small_int_to_float(d);
          }
        }
      }
    }
  }
#pragma unroll
  for (int c = 0; c < GEMV_COLS; ++c) {
#pragma unroll
    for (int i = 0; i < 16; ++i) {
      if (i < (int)m) {
        float v = acc[c][i];
        for (int h = 16; h > 0; h >>= 1) v += __shfl_xor_sync(0xffffffffu, v, h);
        if (lane == 0 && j0 + c < n) y[(size_t)i * n + j0 + c] = sa[i] * sw[j0 + c] * v;
      }
    }
  }
}

// Decode on tensor cores (m ≤ 16, k % 128 == 0, group % 128 == 0 or no group scales): each
// weight byte is read once, straight into registers, and `mma.m16n8k32.s8` does the
// arithmetic, with the activation rows as A (rows m..15 zero) and 8 weight columns as B.
// A block owns DEC_COLS = 32 output columns (4 n8 tiles) and splits K across its 8 warps by
// whole groups (by 128-code slabs without scales); the warps' partial sums meet in shared
// memory at the end, in warp order (integer sums exactly).
// The sum over k is order-free, so operands are used in the order they load: in a slab of
// 128 codes (16 words per row) thread t4 of a quad loads words 4·t4 … 4·t4 + 3 (one uint4)
// of its row, and MMA c (of 4 per slab) takes word 4·t4 + c from every thread: its even
// nibbles are the fragment's k = 4·t4 + 0…3, its odd nibbles k = 16 + 4·t4 + 0…3, for A and B
// alike. B is expanded as 16·w (nibble in the high half of each byte: two instructions per
// word), so the integer sums are 16× the true ones: shifted back, exactly, before the warps
// add them, or with group scales converted as they are and folded with 1/16 in the scale.
#define DEC_WARPS 8
#define DEC_COLS 32  // 16 measured 1.45× slower at N = K = 8192 on the H200
// Slabs in flight per warp. H200, N = K = 8192, with group scales, µs at M = 1 / 16: 2 (the
// slab being multiplied and the next) 11.4 / 11.7; 3: 14.2 / 15.0; 4: 16.9 / 18.1 (more
// registers, fewer blocks per SM).
#define DEC_DEPTH 2
RRS_HOST_CHECK(RRS_HOST_DECODE_COLUMNS == DEC_COLS, "DECODE_COLUMNS");

// Nibbles 0, 2, 4, 6 of w as four s8: ((u ^ 8) + 0x78) ^ 0x80 sign-extends each byte (no
// carries: at most 0x87).
__device__ __forceinline__ u32 even_nibbles_s8(u32 w) {
  return (((w & 0x0F0F0F0Fu) ^ 0x08080808u) + 0x78787878u) ^ 0x80808080u;
}

extern "C" __global__ void __launch_bounds__(DEC_WARPS * 32)
    gemv_mma(const u32* __restrict__ a, const u32* __restrict__ w, const float* __restrict__ sa,
             const float* __restrict__ sw, const float* __restrict__ gs, float* __restrict__ y,
             unsigned m, unsigned n, unsigned k, unsigned group, unsigned /* band: untiled */) {
  grid_dependency();
  constexpr int Z = DEC_COLS / 8;  // n8 tiles
  __shared__ int red[DEC_WARPS][16][DEC_COLS];  // i32 sums, or f32 bits with group scales
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int g = lane >> 2, t4 = lane & 3;
  const unsigned j0 = blockIdx.x * DEC_COLS, kw = k / 8;
  const unsigned unit = gs ? group / 128 : 1;  // slabs per unit of work: a group, or a slab
  const unsigned units = k / 128 / unit;
  const unsigned mine = warp < (int)units ? (units - warp + DEC_WARPS - 1) / DEC_WARPS : 0;
  const unsigned slabs = mine * unit;

  // Row pointers at this thread's uint4 of slab 0 (null past m or n: the operand is zero).
  const uint4* wp[Z];
#pragma unroll
  for (int z = 0; z < Z; ++z) {
    const unsigned j = j0 + z * 8 + g;
    wp[z] = j < n ? reinterpret_cast<const uint4*>(w + (size_t)j * kw) + t4 : nullptr;
  }
  const uint4* ap[2];
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const unsigned i = g + 8 * h;
    ap[h] = i < m ? reinterpret_cast<const uint4*>(a + (size_t)i * kw) + t4 : nullptr;
  }
  const uint4 zero = make_uint4(0, 0, 0, 0);
  // A place in the warp's slabs: slab o of its u-th unit (unit warp + DEC_WARPS · u), moved
  // on one slab at a time without dividing (integer divisions by the run-time unit cost
  // about as many instructions as a slab's MMAs).
  struct Cursor {
    unsigned u = 0, o = 0;
  };
  auto advance = [&](Cursor& c) {
    if (++c.o == unit) c.o = 0, ++c.u;
  };
  // A ring of DEC_DEPTH slabs: while slab t is multiplied, slabs t + 1 … t + DEC_DEPTH − 1
  // are loading.
  uint4 wv[DEC_DEPTH][Z], av[DEC_DEPTH][2];
  float sv[DEC_DEPTH];  // the slab's group scale
  auto load = [&](Cursor c, uint4(&wd)[Z], uint4(&ad)[2], float& sd) {
    const unsigned unit_index = warp + DEC_WARPS * c.u, s = unit_index * unit + c.o;
#pragma unroll
    for (int z = 0; z < Z; ++z) wd[z] = wp[z] ? __ldg(wp[z] + 4 * s) : zero;
#pragma unroll
    for (int h = 0; h < 2; ++h) ad[h] = ap[h] ? __ldg(ap[h] + 4 * s) : zero;
    if (gs) sd = __ldg(gs + unit_index);  // with scales a unit is a group
  };
  // The sums are 16× the true ones (B as 16 · code): sv carries the 1/16 (see the GEMM's fold).
  int acc[Z][4];
  float out[Z][4];
#pragma unroll
  for (int z = 0; z < Z; ++z)
#pragma unroll
    for (int c = 0; c < 4; ++c) acc[z][c] = 0, out[z][c] = 0.0f;
  Cursor cur, next;
#pragma unroll
  for (int d = 0; d < DEC_DEPTH - 1; ++d)
    if (d < (int)slabs) load(next, wv[d], av[d], sv[d]), advance(next);
  // Multiply slab t (in stage d = t % DEC_DEPTH) and fold it if it ends a group.
  auto multiply = [&](const uint4(&wd)[Z], const uint4(&ad)[2], float sd) {
    const u32 a0[4] = {ad[0].x, ad[0].y, ad[0].z, ad[0].w};
    const u32 a1[4] = {ad[1].x, ad[1].y, ad[1].z, ad[1].w};
#pragma unroll
    for (int c = 0; c < 4; ++c) {
      const u32 af[4] = {even_nibbles_s8(a0[c]), even_nibbles_s8(a1[c]), even_nibbles_s8(a0[c] >> 4),
                         even_nibbles_s8(a1[c] >> 4)};
#pragma unroll
      for (int z = 0; z < Z; ++z) {
        const u32 wc = c == 0 ? wd[z].x : c == 1 ? wd[z].y : c == 2 ? wd[z].z : wd[z].w;
        const u32 bf[2] = {even_nibbles_x16(wc), odd_nibbles_x16(wc)};
        mma_s8(acc[z], af, bf);
      }
    }
    if (gs && cur.o == unit - 1) {
      // A complete group: one fused multiply-add (the CPU reference's rounding).
#pragma unroll
      for (int z = 0; z < Z; ++z)
#pragma unroll
        for (int c = 0; c < 4; ++c) {
          out[z][c] = __fmaf_rn(sd * 0.0625f, (float)acc[z][c], out[z][c]);
          acc[z][c] = 0;
        }
    }
    advance(cur);
  };
  for (unsigned t0 = 0; t0 < slabs; t0 += DEC_DEPTH) {
#pragma unroll
    for (int d = 0; d < DEC_DEPTH; ++d) {
      const unsigned t = t0 + d;
      if (t < slabs) {
        const int ahead = (d + DEC_DEPTH - 1) % DEC_DEPTH;  // the stage slab t − 1 freed
        if (t + DEC_DEPTH - 1 < slabs) load(next, wv[ahead], av[ahead], sv[ahead]), advance(next);
        multiply(wv[d], av[d], sv[d]);
      }
    }
  }
  // c0, c1 at (row g, cols 2·t4, +1), c2, c3 at row g + 8.
#pragma unroll
  for (int z = 0; z < Z; ++z)
#pragma unroll
    for (int c = 0; c < 4; ++c)
      red[warp][g + (c >> 1) * 8][z * 8 + 2 * t4 + (c & 1)] =
          gs ? __float_as_int(out[z][c]) : acc[z][c] >> 4;
  __syncthreads();
  for (int o = tid; o < 16 * DEC_COLS; o += DEC_WARPS * 32) {
    const unsigned i = o / DEC_COLS, j = j0 + o % DEC_COLS;
    if (i >= m || j >= n) continue;
    float v;
    if (gs) {
      v = 0.0f;
#pragma unroll
      for (int q = 0; q < DEC_WARPS; ++q) v += __int_as_float(red[q][i][o % DEC_COLS]);
    } else {
      int s = 0;
#pragma unroll
      for (int q = 0; q < DEC_WARPS; ++q) s += red[q][i][o % DEC_COLS];
      v = (float)s;
    }
    y[(size_t)i * n + j] = sa[i] * sw[j] * v;
  }
}

