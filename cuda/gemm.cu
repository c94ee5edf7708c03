// A4W4 GEMM with Runtime Smooth's per-K-group scales:
//   y[i, j] = (sa[i] · sw[j]) · Σ_g gs[g] · P_g[i, j],   P_g = Σ_{k in group g} a[i, k] · w[j, k]
// a: [m, k / 8] u32, w: [n, k / 8] u32 (INT4, 8 codes per word, lower index in the lower nibble),
// sa: [m], sw: [n], gs: [k / group] or null (all 1). The integer partial sums are exact in i32;
// each group's sum is scaled and added in f32 once the group is complete.
//
// Tensor-core kernels: 128×128 output tiles, 8 warps of 64×32, K steps of 128 or 64 codes
// (needs k and the group to be multiples of the step; the host falls back to `gemm_simt`
// otherwise):
//   INT8 = 0: `mma.sync.aligned.m16n8k64.row.col.s32.s4.s4.s32` on the packed words as they are
//             (INT4 tensor cores: sm_75 to sm_89);
//   INT8 = 1: the words unpacked to s8 on their way into shared memory, then
//             `mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32` (sm_80+; Hopper has no INT4 MMA).
#define BM 128
#define BN 128
#define GEMM_THREADS 256

// Exact i32 → f32 for |v| < 2^22 (a group's partial sum: at most 64 · group) with a
// full-rate integer add and float subtract instead of a quarter-rate conversion.
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

// Shared memory per stage and operand: BM rows of the K step's codes (s8: BK bytes, s4: BK/2
// bytes) plus 16 bytes of padding, which puts the 8 rows a fragment load touches at once in
// 8 different 16-byte bank groups (for ldmatrix and for the 4-byte loads alike).
template <int INT8, int BKT> struct Layout {
  static constexpr int ROW_BYTES = (INT8 ? BKT : BKT / 2) + 16;
  static constexpr int STAGE_BYTES = BM * ROW_BYTES;  // one operand
  static constexpr int SMEM_BYTES = 2 * 2 * STAGE_BYTES;  // A and W, two stages
};

__device__ __forceinline__ void ldmatrix_x4(u32 (&r)[4], const void* p) {
  const u32 addr = (u32)__cvta_generic_to_shared(p);
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

// K steps of BKT codes, double-buffered: while the tensor cores work on one stage, the next
// step's words are in flight from global memory into registers, then unpacked (INT8) and
// stored into the other stage; one barrier per step.
// SCALED = 0: gs is null (plain A4W4): no f32 accumulators, so fewer registers.
template <int INT8, int BKT, int SCALED>
__device__ __forceinline__ void gemm_body(const u32* __restrict__ a, const u32* __restrict__ w,
                                          const float* __restrict__ sa, const float* __restrict__ sw,
                                          const float* __restrict__ gs, float* __restrict__ y,
                                          unsigned m, unsigned n, unsigned k, unsigned group) {
  using L = Layout<INT8, BKT>;
  constexpr int WORDS = BKT / 8;            // packed words per row and step
  constexpr int LOADS = BM * WORDS / 4 / GEMM_THREADS;  // uint4 per thread per operand
  extern __shared__ __align__(16) unsigned char smem[];
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int g = lane >> 2, t4 = lane & 3;
  const int wm = (warp >> 2) * 64, wn = (warp & 3) * 32;  // the warp's 64×32 sub-tile
  const unsigned i0 = blockIdx.y * BM, j0 = blockIdx.x * BN;
  const unsigned kw = k / 8;

  // Thread → (row, uint4) of each load: rows 0..127, WORDS / 4 uint4 per row.
  int lrow[LOADS], lq[LOADS];
#pragma unroll
  for (int l = 0; l < LOADS; ++l) {
    const int idx = tid + l * GEMM_THREADS;
    lrow[l] = idx / (WORDS / 4);
    lq[l] = idx % (WORDS / 4);
  }
  const uint4 zero = make_uint4(0, 0, 0, 0);
  uint4 an[LOADS], wnx[LOADS];
  auto load = [&](unsigned k0) {
#pragma unroll
    for (int l = 0; l < LOADS; ++l) {
      const unsigned ia = i0 + lrow[l], jw = j0 + lrow[l];
      an[l] = ia < m ? reinterpret_cast<const uint4*>(a + (size_t)ia * kw + k0 / 8)[lq[l]] : zero;
      wnx[l] = jw < n ? reinterpret_cast<const uint4*>(w + (size_t)jw * kw + k0 / 8)[lq[l]] : zero;
    }
  };
  auto store = [&](int stage) {
    unsigned char* as = smem + stage * 2 * L::STAGE_BYTES;
    unsigned char* ws = as + L::STAGE_BYTES;
#pragma unroll
    for (int l = 0; l < LOADS; ++l) {
      if (INT8) {
        const u32 av[4] = {an[l].x, an[l].y, an[l].z, an[l].w};
        const u32 wv[4] = {wnx[l].x, wnx[l].y, wnx[l].z, wnx[l].w};
        uint4* ad = reinterpret_cast<uint4*>(as + lrow[l] * L::ROW_BYTES + lq[l] * 32);
        uint4* wd = reinterpret_cast<uint4*>(ws + lrow[l] * L::ROW_BYTES + lq[l] * 32);
        ad[0] = make_uint4(nibbles_to_s8x4(av[0]), nibbles_to_s8x4(av[0] >> 16),
                           nibbles_to_s8x4(av[1]), nibbles_to_s8x4(av[1] >> 16));
        ad[1] = make_uint4(nibbles_to_s8x4(av[2]), nibbles_to_s8x4(av[2] >> 16),
                           nibbles_to_s8x4(av[3]), nibbles_to_s8x4(av[3] >> 16));
        wd[0] = make_uint4(nibbles_to_s8x4(wv[0]), nibbles_to_s8x4(wv[0] >> 16),
                           nibbles_to_s8x4(wv[1]), nibbles_to_s8x4(wv[1] >> 16));
        wd[1] = make_uint4(nibbles_to_s8x4(wv[2]), nibbles_to_s8x4(wv[2] >> 16),
                           nibbles_to_s8x4(wv[3]), nibbles_to_s8x4(wv[3] >> 16));
      } else {
        *reinterpret_cast<uint4*>(as + lrow[l] * L::ROW_BYTES + lq[l] * 16) = an[l];
        *reinterpret_cast<uint4*>(ws + lrow[l] * L::ROW_BYTES + lq[l] * 16) = wnx[l];
      }
    }
  };

  int acc[4][4][4];
  float out[4][4][4];
#pragma unroll
  for (int x = 0; x < 4; ++x)
#pragma unroll
    for (int z = 0; z < 4; ++z)
#pragma unroll
      for (int c = 0; c < 4; ++c) acc[x][z][c] = 0, out[x][z][c] = 0.0f;

  load(0);
  store(0);
  __syncthreads();
  int stage = 0;
  for (unsigned k0 = 0; k0 < k; k0 += BKT) {
    const bool more = k0 + BKT < k;
    if (more) load(k0 + BKT);
    const unsigned char* as = smem + stage * 2 * L::STAGE_BYTES;
    const unsigned char* ws = as + L::STAGE_BYTES;
    if (INT8) {
      // k32 halves: A by ldmatrix.x4 (rows 0-7 / 8-15 × bytes 0-15 / 16-31 = a0..a3), W by
      // ldmatrix.x4 over two n8 tiles (b0, b1 of each).
#pragma unroll
      for (int kb = 0; kb < BKT / 32; ++kb) {
        u32 bf[4][2];
#pragma unroll
        for (int z = 0; z < 4; z += 2) {
          const int mi = lane >> 3;
          const unsigned char* p =
              ws + (wn + (z + (mi >> 1)) * 8 + (lane & 7)) * L::ROW_BYTES + kb * 32 + 16 * (mi & 1);
          u32 r[4];
          ldmatrix_x4(r, p);
          bf[z][0] = r[0], bf[z][1] = r[1], bf[z + 1][0] = r[2], bf[z + 1][1] = r[3];
        }
#pragma unroll
        for (int x = 0; x < 4; ++x) {
          const unsigned char* p = as + (wm + x * 16 + (lane & 7) + 8 * ((lane >> 3) & 1)) * L::ROW_BYTES +
                                   kb * 32 + 16 * (lane >> 4);
          u32 af[4];
          ldmatrix_x4(af, p);
#pragma unroll
          for (int z = 0; z < 4; ++z) mma_s8(acc[x][z], af, bf[z]);
        }
      }
    } else {
      // k64 chunks of packed words: a0..a3 = rows g / g+8 × words t4 / t4+4.
#pragma unroll
      for (int kb = 0; kb < BKT / 64; ++kb) {
        u32 bf[4][2];
#pragma unroll
        for (int z = 0; z < 4; ++z) {
          const u32* r = reinterpret_cast<const u32*>(ws + (wn + z * 8 + g) * L::ROW_BYTES) + kb * 8 + t4;
          bf[z][0] = r[0];
          bf[z][1] = r[4];
        }
#pragma unroll
        for (int x = 0; x < 4; ++x) {
          const u32* r0 = reinterpret_cast<const u32*>(as + (wm + x * 16 + g) * L::ROW_BYTES) + kb * 8 + t4;
          const u32* r1 = reinterpret_cast<const u32*>(reinterpret_cast<const unsigned char*>(r0) + 8 * L::ROW_BYTES);
          const u32 af[4] = {r0[0], r1[0], r0[4], r1[4]};
#pragma unroll
          for (int z = 0; z < 4; ++z) mma_s4(acc[x][z], af, bf[z]);
        }
      }
    }
    // A complete group: scale its integer sums into the f32 accumulators.
    if (SCALED && (k0 + BKT) % group == 0) {
      const float s = gs[k0 / group];
#pragma unroll
      for (int x = 0; x < 4; ++x)
#pragma unroll
        for (int z = 0; z < 4; ++z)
#pragma unroll
          for (int c = 0; c < 4; ++c) {
            // Rounded product, then the add (no FMA): the CPU reference's order.
            out[x][z][c] = __fadd_rn(out[x][z][c], __fmul_rn(s, small_int_to_float(acc[x][z][c])));
            acc[x][z][c] = 0;
          }
    }
    if (more) store(stage ^ 1);
    __syncthreads();
    stage ^= 1;
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
          const float v = SCALED ? out[x][z][c] : (float)acc[x][z][c];
          y[(size_t)i * n + j] = sa[i] * sw[j] * v;
        }
      }
}

// Entry points: path × K step (128 where k and the group allow it, else 64). Dynamic shared
// memory: Layout<INT8, BK>::SMEM_BYTES.
#define GEMM_ENTRY(NAME, INT8, BKT, SCALED, MINB)                                            \
  extern "C" __global__ void __launch_bounds__(GEMM_THREADS, MINB)                           \
      NAME(const u32* a, const u32* w, const float* sa, const float* sw, const float* gs,    \
           float* y, unsigned m, unsigned n, unsigned k, unsigned group) {                   \
    gemm_body<INT8, BKT, SCALED>(a, w, sa, sw, gs, y, m, n, k, group);                       \
  }
// <path>_k<step> with group scales, <path>_k<step>_plain without. The plain kernels fit
// 128 registers, so two blocks share an SM (measured on the H100, INT8 path, 8192³: 2.46
// against 2.77 ms with one block); the scaled ones need their 64 f32 accumulators besides
// the 64 integer ones (226 registers; limited to 128 they spill and run 1.3× slower).
#define GEMM_ENTRIES(PATH, INT8, BKT)                                                        \
  GEMM_ENTRY(gemm_##PATH##_k##BKT, INT8, BKT, 1, 1)                                          \
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
      total = __fadd_rn(total, __fmul_rn(gs[8 * q / group], (float)part));
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

extern "C" __global__ void __launch_bounds__(GEMV_WARPS * 32)
    gemv(const u32* __restrict__ a, const u32* __restrict__ w, const float* __restrict__ sa,
         const float* __restrict__ sw, const float* __restrict__ gs, float* __restrict__ y,
         unsigned m, unsigned n, unsigned k, unsigned group) {
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
// word) and the integer sums shifted back, exactly, before they are used.
#define DEC_WARPS 8
#define DEC_COLS 32

// Nibbles 0, 2, 4, 6 of w as four s8: ((u ^ 8) + 0x78) ^ 0x80 sign-extends each byte (no
// carries: at most 0x87).
__device__ __forceinline__ u32 even_nibbles_s8(u32 w) {
  return (((w & 0x0F0F0F0Fu) ^ 0x08080808u) + 0x78787878u) ^ 0x80808080u;
}

extern "C" __global__ void __launch_bounds__(DEC_WARPS * 32)
    gemv_mma(const u32* __restrict__ a, const u32* __restrict__ w, const float* __restrict__ sa,
             const float* __restrict__ sw, const float* __restrict__ gs, float* __restrict__ y,
             unsigned m, unsigned n, unsigned k, unsigned group) {
  __shared__ int red[DEC_WARPS][16][DEC_COLS];  // i32 sums, or f32 bits with group scales
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int g = lane >> 2, t4 = lane & 3;
  const unsigned j0 = blockIdx.x * DEC_COLS, kw = k / 8;
  const unsigned unit = gs ? group / 128 : 1;  // slabs per unit of work: a group, or a slab
  const unsigned units = k / 128 / unit;
  const unsigned mine = warp < (int)units ? (units - warp + DEC_WARPS - 1) / DEC_WARPS : 0;
  const unsigned slabs = mine * unit;

  // Row pointers at this thread's uint4 of slab 0 (null past m or n: the operand is zero).
  const uint4* wp[4];
#pragma unroll
  for (int z = 0; z < 4; ++z) {
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
  // The warp's t-th slab: unit warp + DEC_WARPS · (t / unit), slab t % unit of it.
  auto slab = [&](unsigned t) { return (warp + DEC_WARPS * (t / unit)) * unit + t % unit; };
  uint4 wv[4], av[2], wn[4], an[2];
  float sv = 0.0f, sn = 0.0f;  // the slab's group scale (slab s is in group s / unit)
  auto load = [&](unsigned s, uint4(&wd)[4], uint4(&ad)[2], float& sd) {
#pragma unroll
    for (int z = 0; z < 4; ++z) wd[z] = wp[z] ? __ldg(wp[z] + 4 * s) : zero;
#pragma unroll
    for (int h = 0; h < 2; ++h) ad[h] = ap[h] ? __ldg(ap[h] + 4 * s) : zero;
    if (gs) sd = __ldg(gs + s / unit);
  };
  // A group's sum is at most 64 · group in magnitude: exact through the fast conversion
  // below 2^22.
  const bool small = group <= 32768;

  int acc[4][4];
  float out[4][4];
#pragma unroll
  for (int z = 0; z < 4; ++z)
#pragma unroll
    for (int c = 0; c < 4; ++c) acc[z][c] = 0, out[z][c] = 0.0f;
  if (slabs > 0) load(slab(0), wv, av, sv);
  for (unsigned t = 0; t < slabs; ++t) {
    if (t + 1 < slabs) load(slab(t + 1), wn, an, sn);  // the next slab in flight meanwhile
    const u32 a0[4] = {av[0].x, av[0].y, av[0].z, av[0].w};
    const u32 a1[4] = {av[1].x, av[1].y, av[1].z, av[1].w};
#pragma unroll
    for (int c = 0; c < 4; ++c) {
      const u32 af[4] = {even_nibbles_s8(a0[c]), even_nibbles_s8(a1[c]), even_nibbles_s8(a0[c] >> 4),
                         even_nibbles_s8(a1[c] >> 4)};
#pragma unroll
      for (int z = 0; z < 4; ++z) {
        const u32 wc = c == 0 ? wv[z].x : c == 1 ? wv[z].y : c == 2 ? wv[z].z : wv[z].w;
        const u32 bf[2] = {(wc << 4) & 0xF0F0F0F0u, wc & 0xF0F0F0F0u};
        mma_s8(acc[z], af, bf);
      }
    }
    if (gs && (t + 1) % unit == 0) {
      // A complete group: rounded product, then the add (the CPU reference's order).
#pragma unroll
      for (int z = 0; z < 4; ++z)
#pragma unroll
        for (int c = 0; c < 4; ++c) {
          const int p = acc[z][c] >> 4;
          const float pf = small ? small_int_to_float(p) : (float)p;
          out[z][c] = __fadd_rn(out[z][c], __fmul_rn(sv, pf));
          acc[z][c] = 0;
        }
    }
#pragma unroll
    for (int z = 0; z < 4; ++z) wv[z] = wn[z];
    av[0] = an[0], av[1] = an[1];
    sv = sn;
  }
  // c0, c1 at (row g, cols 2·t4, +1), c2, c3 at row g + 8.
#pragma unroll
  for (int z = 0; z < 4; ++z)
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
