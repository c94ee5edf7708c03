// Fast Walsh-Hadamard transform of contiguous vectors of n = 2^LOGN elements (one block per
// vector), times `scale`; reads `src` (or x itself when src is null), writes x. Elements are
// f32, or f16 (IEEE half, converted to f32 on load; the f32 result rounded to nearest once, on
// store): fwht_<LOGN> f32 → f32, fwht_h_<LOGN> f16 → f16, fwht_hf_<LOGN> f16 → f32 (the first
// pass of an m·2^n size in f16, whose cross pass then rounds).
// The transforms themselves are in fwht.cuh (prepended to this source).
// The cross pass applies the dense ±1 matrix of an m·2^n size across the m chunks; where the
// row fits a block's shared memory and its chunks are 16 … 1024, `fwht_mixed` (at the end)
// does both in one pass instead.

#define STREAM_ENTRY(NAME, T, BODY)                                                       \
  extern "C" __global__ void __launch_bounds__(STREAM_T, 1)                               \
      NAME(T* x, const T* src, unsigned long long vectors, float scale) {                 \
    grid_dependency();                                                                    \
    BODY(x, src, vectors, scale);                                                         \
  }
STREAM_ENTRY(fwht_stream, float, fwht_stream_f32)
STREAM_ENTRY(fwht_h_stream, f16, fwht_stream_f16)
RRS_HOST_CHECK(RRS_HOST_FWHT_STREAM_SMEM_F32 == STREAM_SMEM(float) &&
                   RRS_HOST_FWHT_STREAM_SMEM_F16 == STREAM_SMEM(f16),
               "fwht_stream_smem");

// f16 loads four elements at a time (V = 4, 8 bytes) where a vector has four, else pairs.
// f32 loads one element at a time below 2^12 (not measured otherwise); from 2^12 two or four
// (F32_V): four unless that halves the block (fwht_threads), which measured best on the
// H200 at M = 4096 (ms, V = 1 / 2 / 4: 2^12 0.0392 / 0.0379 / 0.0395, 2^13 0.0761 / 0.0733 /
// 0.0712, 2^14 0.1595 / 0.1430 / 0.1494, 2^15 0.3956 (a cluster of two blocks, removed) /
// 0.3861 / 0.3617).
#define FWHT_ENTRY(NAME, LOGN, IN, OUT, V)                                                 \
  extern "C" __global__ void __launch_bounds__(                                             \
      two_pass_logr(LOGN) ? 1 << (LOGN - two_pass_logr(LOGN)) : fwht_threads((1 << LOGN) / V)) \
      NAME(OUT* x, const IN* src, unsigned long long vectors, float scale) {                \
    grid_dependency();                                                                      \
    if constexpr (two_pass_logr(LOGN) > 0)                                                 \
      fwht_two_pass<LOGN, IN, OUT>(x, src, vectors, scale);                                \
    else                                                                                   \
      fwht_body<LOGN, IN, OUT, V>(x, src, vectors, scale);                                 \
  }
#define FWHT(LOGN)                                                                         \
  FWHT_ENTRY(fwht_##LOGN, LOGN, float, float, F32_V(LOGN))                                 \
  FWHT_ENTRY(fwht_h_##LOGN, LOGN, f16, f16, F16_V(LOGN))                                   \
  FWHT_ENTRY(fwht_hf_##LOGN, LOGN, f16, float, F16_V(LOGN))
#define F16_V(LOGN) (LOGN >= 2 ? 4 : LOGN == 1 ? 2 : 1)
#define F32_V(LOGN) \
  (LOGN < 12 ? 1 : fwht_threads((1 << LOGN) / 4) == fwht_threads((1 << LOGN) / 2) ? 4 : 2)
FWHT(0) FWHT(1) FWHT(2) FWHT(3) FWHT(4) FWHT(5) FWHT(6) FWHT(7)
FWHT(8) FWHT(9) FWHT(10) FWHT(11) FWHT(12) FWHT(13) FWHT(14) FWHT(15)

// fwht_max_h_<LOGN>: the f16 FWHT with the channel maxima of its output (`fwht_max_h` in
// fwht.cuh), for 2^13.
#define FWHT_MAX(LOGN)                                                                     \
  extern "C" __global__ void __launch_bounds__(1 << (LOGN - two_pass_logr(LOGN)))         \
      fwht_max_h_##LOGN(f16* x, const f16* src, unsigned long long vectors, float scale,   \
                        u32* partial) {                                                    \
    grid_dependency();                                                                     \
    fwht_max_h<LOGN>(x, src, vectors, scale, partial);                                     \
  }
FWHT_MAX(13)

// H_2 for 2^15 as two chunks of 2^14 (the reference's last butterfly: a + b, a − b).
__constant__ float RRS_H2[2 * 2] = {1, 1, 1, -1};
// Row a of H_M (constant memory, `hadamard_signs.cuh`: the threads of a warp read the same
// entry at once).
template <int M>
__device__ __forceinline__ const float* hadamard_row(int a) {
  if constexpr (M == 2) return RRS_H2 + a * M;
  else if constexpr (M == 12) return RRS_H12 + a * M;
  else if constexpr (M == 20) return RRS_H20 + a * M;
  else if constexpr (M == 28) return RRS_H28 + a * M;
  else return RRS_H36 + a * M;
}
// The rows of H_M as masks of their −1 entries (`hadamard_signs.cuh`).
template <int M>
__device__ __forceinline__ const unsigned long long* hadamard_neg() {
  if constexpr (M == 12) return RRS_H12_NEG;
  else if constexpr (M == 20) return RRS_H20_NEG;
  else if constexpr (M == 28) return RRS_H28_NEG;
  else return RRS_H36_NEG;
}

// x: [rows, M · chunk] f32. For each row and j < chunk:
// y[a·chunk + j] = scale · Σ_b H[a][b] x[b·chunk + j] (b ascending, as the CPU reference),
// into y (f32: y may be x; f16: rounded once). A thread reads all of its column before it
// writes any of it, so in place is safe.
template <int M, typename Out>
__device__ __forceinline__ void cross_body(Out* y, const float* x, unsigned long long rows,
                                           unsigned chunk, float scale) {
  const unsigned long long id = global_block() * blockDim.x + threadIdx.x;
  if (id >= rows * chunk) return;
  const unsigned long long row = id / chunk, j = id % chunk, base = row * M * chunk + j;
  float v[M];
#pragma unroll
  for (int b = 0; b < M; ++b) v[b] = x[base + (unsigned long long)b * chunk];
#pragma unroll
  for (int a = 0; a < M; ++a) {
    // From the first product, not from 0: the reference's sum starts at -0.0, which keeps a
    // sum of negative zeros negative (0.0f + -0.0f is +0.0f).
    const float* h = hadamard_row<M>(a);
    float acc = h[0] * v[0];
#pragma unroll
    for (int b = 1; b < M; ++b) acc += h[b] * v[b];  // exact products: ±v
    store_f32(y + base + (unsigned long long)a * chunk, acc * scale);
  }
}

// fwht_cross_<M>: f32 in place; fwht_cross_fh_<M>: f32 → f16.
#define CROSS(M)                                                                           \
  extern "C" __global__ void fwht_cross_##M(float* x, unsigned long long rows,             \
                                            unsigned chunk, float scale) {                 \
    grid_dependency();                                                                     \
    cross_body<M, float>(x, x, rows, chunk, scale);                                        \
  }                                                                                        \
  extern "C" __global__ void fwht_cross_fh_##M(f16* y, const float* x,                     \
                                               unsigned long long rows, unsigned chunk,    \
                                               float scale) {                              \
    grid_dependency();                                                                     \
    cross_body<M, f16>(y, x, rows, chunk, scale);                                          \
  }
CROSS(2) CROSS(12) CROSS(20) CROSS(28) CROSS(36)  // 2: 2^15 as two chunks of 2^14

// An m·2^n size in one pass (M ∈ {12, 20, 28, 36}, p = 2^LOGP, LOGP 4 … 10): one block a row,
// the row in shared memory as f32 (M · (p + 16) floats), three phases with a barrier between:
//  1. a task takes 16 consecutive elements of a chunk from the input (f16 widened exactly),
//     runs the butterflies over bits 0 … 3 in registers and stores them;
//  2. a task takes the 2^(LOGP − 4) elements of one chunk that share bits 0 … 3 and runs the
//     butterflies over bits 4 … LOGP − 1 (the chunk FWHT, stages ascending as the reference;
//     from chunks of 1024, bits 4 … 8 and then bits 9 …, so that no task holds 64);
//  3. a task takes columns j, j + 1 of every chunk and writes
//     y[a·p + j] = norm · Σ_b H_M[a][b] · t[b·p + j], b ascending from the first product
//     (the reference's sum, which starts at −0.0), each ±1 read from constant memory (two
//     an 8-byte load, one load for every four fused multiply-adds: exact products, the
//     same rounding as an add; for chunks of 16 and 32, as masks: see phase 3); f16
//     rounded once.
// Bit-identical to the reference, as the two passes it replaces (`fwht_hf_*` into an f32
// copy of the rows, then `fwht_cross_fh_*`), which read and wrote the rows twice, through
// f32. Layout: chunk c at c · (p + 16) floats (a warp's second phase reads two chunks, 16
// banks apart); within a chunk the float4 q of unit v (elements 16v + 4q …) sits at
// 16v + 4 · (q ^ ((v >> 1) & 3)), so that the 8 units of a quarter warp's 16-byte stores
// fall in distinct banks, and the second and third phases' reads are conflict-free too.
// Reads the whole row before it writes any of it: in place is safe. Blocks of 64 threads for
// chunks of 16 and 32, 128 for chunks of 64 … 256, 256 for chunks of 512, and for chunks of
// 1024 512 (one column pair a thread) where the row's shared memory leaves one block an SM
// (M = 28, 36), else 256.
// H200, 4096 rows, f16, 256 → 512 threads (ms): 12·1024 0.108 → 0.169, 20·1024 0.233 →
// 0.303, 28·1024 0.649 → 0.460, 36·1024 0.903 → 0.660.
#define MIXED_PAD 16
RRS_HOST_CHECK(RRS_HOST_FWHT_MIXED_PAD == MIXED_PAD, "fwht_mixed's chunk padding");
#define MIXED_THREADS(M, LOGP) \
  ((LOGP) <= 5 ? 64 : (LOGP) <= 8 ? 128 : (LOGP) == 10 && (M) >= 28 ? 512 : 256)
#define MIXED_HI 9  // the second phase holds bits 4 … 8 (32 registers), a third bits 9 …
// Offset of element e of a chunk (the swizzle above).
__device__ __forceinline__ unsigned mixed_at(unsigned e) {
  const unsigned v = e >> 4;
  return 16 * v + 4 * (((e >> 2) & 3) ^ ((v >> 1) & 3)) + (e & 3);
}
template <int M, int LOGP, typename T>
__device__ __forceinline__ void fwht_mixed(T* x, const T* src, float norm) {
  constexpr unsigned P = 1u << LOGP, CS = P + MIXED_PAD, THREADS = MIXED_THREADS(M, LOGP);
  constexpr int HI = LOGP < MIXED_HI ? LOGP : MIXED_HI;
  constexpr int R2 = 1 << (HI - 4), R3 = 1 << (LOGP - HI);  // elements a task in 2a, 2b
  extern __shared__ float4 mixed_smem_f4[];
  float* s = reinterpret_cast<float*>(mixed_smem_f4);
  const unsigned long long row = global_block();
  const unsigned t = threadIdx.x;
  const T* in = (src ? src : x) + row * (M * P);
  T* out = x + row * (M * P);
  // 1. Bits 0 … 3.
  for (unsigned u = t; u < M * P / 16; u += THREADS) {
    float r[16];
#pragma unroll
    for (int q = 0; q < 4; ++q) load_v<4>(in + 16 * u + 4 * q, r + 4 * q);
    butterflies<1, 16, 16>(r);
    const unsigned c = u / (P / 16), v = u % (P / 16);
    float* d = s + c * CS + 16 * v;
#pragma unroll
    for (unsigned q = 0; q < 4; ++q)
      *reinterpret_cast<float4*>(d + 4 * (q ^ ((v >> 1) & 3))) =
          make_float4(r[4 * q], r[4 * q + 1], r[4 * q + 2], r[4 * q + 3]);
  }
  __syncthreads();
  // 2a. Bits 4 … HI − 1 (none for chunks of 16).
  // Task: bits 0 … 3 fastest, then the chunk (a warp's two halves 16 banks apart), then the
  // bits from HI up.
  for (unsigned task = t; HI > 4 && task < M * 16 * R3; task += THREADS) {
    const unsigned e0 = task % 16, c = task / 16 % M, high = task / (16 * M);
    float* base = s + c * CS + (high << HI);
    unsigned off[4];
#pragma unroll
    for (unsigned z = 0; z < 4; ++z) off[z] = 4 * (((e0 >> 2) & 3) ^ z) + (e0 & 3);
    float r[R2];
#pragma unroll
    for (int i = 0; i < R2; ++i) r[i] = base[16 * i + off[(i >> 1) & 3]];
    butterflies<1, R2, R2>(r);
#pragma unroll
    for (int i = 0; i < R2; ++i) base[16 * i + off[(i >> 1) & 3]] = r[i];
  }
  if constexpr (HI > 4) __syncthreads();
  // 2b. Bits HI … LOGP − 1 (chunks of 1024): a task holds the R3 elements e + 2^HI · i of
  // one chunk; a step of 2^HI leaves the swizzle's bits alone, and consecutive tasks read
  // consecutive elements (conflict-free).
  if constexpr (R3 > 1) {
    for (unsigned task = t; task < M * (P / R3); task += THREADS) {
      float* base = s + (task / (P / R3)) * CS + mixed_at(task % (P / R3));
      float r[R3];
#pragma unroll
      for (int i = 0; i < R3; ++i) r[i] = base[i << HI];
      butterflies<1, R3, R3>(r);
#pragma unroll
      for (int i = 0; i < R3; ++i) base[i << HI] = r[i];
    }
    __syncthreads();
  }
  // 3. H_M across the chunks, two columns a task; where the chunk has fewer column pairs
  // than the block has threads (chunks below 256), PARTS tasks share a pair, task `part`
  // taking its rows a = part, part + PARTS, ….
  constexpr unsigned PAIRS = P / 2, PARTS = THREADS > PAIRS ? THREADS / PAIRS : 1;
  if constexpr (PAIRS < 32) {
    // Chunks of 16 and 32: the rows of H_M differ between a warp's tasks, whose constant
    // loads of them then serialize. Instead a task loads its NA rows once, as masks of their
    // −1 entries, and keeps NA sums over b in the outer loop: ±t a flip of the sign bit,
    // added in the reference's order (the same rounding as a fused multiply-add by ±1).
    // PAIRS · PARTS = THREADS, one task a thread. H200, 4096 rows, f32 (ms): 36·16 0.0642 →
    // 0.0193, and 0.0171 with blocks of 64 threads rather than 128; 28·32 0.0248 → 0.0196;
    // at 12·64, 28·64, 36·64, where a warp reads one row, it was slower than the constant
    // loads (0.0105 → 0.0120, 0.0304 → 0.0354, 0.0479 → 0.0500).
    constexpr int NA = (M + PARTS - 1) / PARTS;  // rows a task
    const unsigned j = 2 * (t % PAIRS), at = mixed_at(j);
    const int part = t / PAIRS;
    unsigned neg[NA][2];
#pragma unroll
    for (int i = 0; i < NA; ++i) {
      const int a = part + i * PARTS;
      const unsigned long long bits = a < M ? hadamard_neg<M>()[a] : 0;
      neg[i][0] = static_cast<unsigned>(bits), neg[i][1] = static_cast<unsigned>(bits >> 32);
    }
    float y[NA][2];
#pragma unroll
    for (int b = 0; b < M; ++b) {
      const float2 w = *reinterpret_cast<const float2*>(s + b * CS + at);
#pragma unroll
      for (int i = 0; i < NA; ++i) {
        const unsigned flip = (neg[i][b / 32] << (31 - b % 32)) & 0x80000000u;
        const float p0 = __int_as_float(__float_as_int(w.x) ^ flip);
        const float p1 = __int_as_float(__float_as_int(w.y) ^ flip);
        y[i][0] = b == 0 ? p0 : __fadd_rn(y[i][0], p0);
        y[i][1] = b == 0 ? p1 : __fadd_rn(y[i][1], p1);
      }
    }
#pragma unroll
    for (int i = 0; i < NA; ++i) {
      const int a = part + i * PARTS;
      if (a >= M) break;
      y[i][0] *= norm, y[i][1] *= norm;
      store_v<2>(out + a * P + j, y[i]);
    }
  } else {
    for (unsigned task = t; task < PAIRS * PARTS; task += THREADS) {
      const unsigned j = PARTS == 1 ? 2 * task : 2 * (task % PAIRS);
      const int part = PARTS == 1 ? 0 : task / PAIRS;
      const unsigned at = mixed_at(j);
      float v0[M], v1[M];
#pragma unroll
      for (int b = 0; b < M; ++b) {
        const float2 w = *reinterpret_cast<const float2*>(s + b * CS + at);
        v0[b] = w.x, v1[b] = w.y;
      }
      // Not unrolled over a: unrolled, the M² products made the source take minutes to
      // compile.
#pragma unroll 1
      for (int a = part; a < M; a += PARTS) {
        const float* h = hadamard_row<M>(a);
        float y[2] = {h[0] * v0[0], h[0] * v1[0]};
#pragma unroll
        for (int b = 1; b < M; ++b) {
          y[0] = __fmaf_rn(h[b], v0[b], y[0]);
          y[1] = __fmaf_rn(h[b], v1[b], y[1]);
        }
        y[0] *= norm, y[1] *= norm;
        store_v<2>(out + a * P + j, y);
      }
    }
  }
}
#define MIXED_ENTRY(NAME, T, M, LOGP)                                                      \
  extern "C" __global__ void __launch_bounds__(MIXED_THREADS(M, LOGP))                     \
      NAME##_##M##_##LOGP(T* x, const T* src, float norm) {                                \
    grid_dependency();                                                                     \
    fwht_mixed<M, LOGP, T>(x, src, norm);                                                  \
  }
#define MIXED(M, LOGP) MIXED_ENTRY(fwht_mixed, float, M, LOGP) MIXED_ENTRY(fwht_mixed_h, f16, M, LOGP)
#define MIXED_SIZES(M) \
  MIXED(M, 4) MIXED(M, 5) MIXED(M, 6) MIXED(M, 7) MIXED(M, 8) MIXED(M, 9) MIXED(M, 10)
MIXED_SIZES(12) MIXED_SIZES(20) MIXED_SIZES(28) MIXED_SIZES(36)
