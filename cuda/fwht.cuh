// Fast Walsh-Hadamard transform of one vector of n = 2^LOGN elements a block (device code;
// the entries are in hadamard.cu, and rotate.cu fuses the transform with what follows it).
// Elements are f32, or f16 (IEEE half, converted to f32 on load; results rounded to nearest
// once, on store).
// n = 2^12 … 2^14 run `fwht_two_pass` (below), 2^15 on sm_90 and newer `fwht_stream_*`
// (below; one block per SM streaming its vectors); the other sizes `fwht_body`:
// thread t loads V consecutive elements at a time (f32: V = 1, 2 or 4 by size, see F32_V in
// hadamard.cu;
// f16: V = 4, one 8-byte load)
// and holds elements V·(t + T·i) + b (i < E, b < V) in registers, T = fwht_threads(n / V):
// the butterflies over b and over the bits of i run in registers, those over the lane bits
// through warp shuffles, and those over the warp bits after one exchange through shared
// memory (n floats). The stages run in ascending bit order, as the CPU reference runs them,
// so the results are bit-identical. (f16 elements: f16.cuh, prepended before this header.)

// V consecutive elements as floats, and back (f16 pairs in one 4-byte access).
template <int V>
__device__ __forceinline__ void load_v(const float* p, float* d) {
  static_assert(V == 1 || V == 2 || V == 4, "1, 2 or 4 elements");
  if constexpr (V == 4) {
    const float4 v = *reinterpret_cast<const float4*>(p);
    d[0] = v.x, d[1] = v.y, d[2] = v.z, d[3] = v.w;
  } else if constexpr (V == 2) {
    const float2 v = *reinterpret_cast<const float2*>(p);
    d[0] = v.x, d[1] = v.y;
  } else {
    d[0] = *p;
  }
}
template <int V>
__device__ __forceinline__ void load_v(const f16* p, float* d) {
  static_assert(V == 1 || V == 2 || V == 4, "1, 2 or 4 elements");
  if constexpr (V == 4) {
    const uint2 w = *reinterpret_cast<const uint2*>(p);
    d[0] = half_to_float(w.x & 0xFFFFu), d[1] = half_to_float(w.x >> 16);
    d[2] = half_to_float(w.y & 0xFFFFu), d[3] = half_to_float(w.y >> 16);
  } else if constexpr (V == 2) {
    const u32 w = *reinterpret_cast<const u32*>(p);
    d[0] = half_to_float(w & 0xFFFFu), d[1] = half_to_float(w >> 16);
  } else {
    d[0] = load_f32(p);
  }
}
template <int V>
__device__ __forceinline__ void store_v(float* p, const float* v) {
  static_assert(V == 1 || V == 2 || V == 4, "1, 2 or 4 elements");
  if constexpr (V == 4) {
    *reinterpret_cast<float4*>(p) = make_float4(v[0], v[1], v[2], v[3]);
  } else if constexpr (V == 2) {
    *reinterpret_cast<float2*>(p) = make_float2(v[0], v[1]);
  } else {
    *p = v[0];
  }
}
// Two floats as f16, each rounded to nearest (lo in the lower half): one instruction on
// sm_80 and newer.
__device__ __forceinline__ u32 halves(float lo, float hi) {
#if __CUDA_ARCH__ >= 800
  u32 h;
  asm("cvt.rn.f16x2.f32 %0, %1, %2;" : "=r"(h) : "f"(hi), "f"(lo));
  return h;
#else
  return (u32)float_to_half(lo) | ((u32)float_to_half(hi) << 16);
#endif
}
template <int V>
__device__ __forceinline__ void store_v(f16* p, const float* v) {
  static_assert(V == 1 || V == 2 || V == 4, "1, 2 or 4 elements");
  if constexpr (V == 4) {
    *reinterpret_cast<uint2*>(p) = make_uint2(halves(v[0], v[1]), halves(v[2], v[3]));
  } else if constexpr (V == 2) {
    *reinterpret_cast<u32*>(p) = halves(v[0], v[1]);
  } else {
    store_f32(p, v[0]);
  }
}

// Threads per block for n elements (or n groups of V): the host reads the result back from
// each kernel's __launch_bounds__ (CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK).
__host__ __device__ constexpr int fwht_threads(int n) {
  for (int t = 1024; t > 1; t /= 2) {
    int e = n / t, w = t >= 32 ? t / 32 : 1;
    if (t <= n && e <= 32 && e >= w) return t;
  }
  return 1;
}

// The butterflies over register bits h = FROM, 2·FROM, … < TO, ascending.
template <int FROM, int TO, int N>
__device__ __forceinline__ void butterflies(float (&r)[N]) {
#pragma unroll
  for (int h = FROM; h < TO; h <<= 1) {
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

template <int LOGN, typename In, typename Out, int V>
__device__ __forceinline__ void fwht_body(Out* __restrict__ x, const In* __restrict__ src,
                                          unsigned long long vectors, float scale) {
  constexpr int N = 1 << LOGN;
  constexpr int T = fwht_threads(N / V);
  constexpr int E = N / V / T;
  constexpr int R = E * V;  // registers per thread
  constexpr int W = T >= 32 ? T / 32 : 1;
  constexpr u32 MASK = T >= 32 ? 0xffffffffu : (1u << T) - 1u;
  extern __shared__ float s[];
  const unsigned long long v = global_block();
  if (v >= vectors) return;
  const int t = threadIdx.x;
  // In place only where In is Out (the host passes src for fwht_hf).
  const In* in = (src ? src : reinterpret_cast<const In*>(x)) + v * N;
  float r[R];
#pragma unroll
  for (int i = 0; i < E; ++i) load_v<V>(in + V * (t + T * i), r + V * i);
  // Element bits: b (below V), then lane, then warp, then i.
  if constexpr (V > 1) {
    float u[V];
#pragma unroll
    for (int i = 0; i < E; ++i) {
#pragma unroll
      for (int b = 0; b < V; ++b) u[b] = r[V * i + b];
      butterflies<1, V>(u);
#pragma unroll
      for (int b = 0; b < V; ++b) r[V * i + b] = u[b];
    }
  }
  const int lane = t & 31;
#pragma unroll
  for (int h = 1; h < 32 && h < T; h <<= 1) {
#pragma unroll
    for (int i = 0; i < R; ++i) {
      float o = __shfl_xor_sync(MASK, r[i], h);
      r[i] = (lane & h) ? o - r[i] : r[i] + o;
    }
  }
  if constexpr (W > 1) {
    // The registers to shared memory, element V·(t + T·i) + b at that index.
#pragma unroll
    for (int i = 0; i < E; ++i)
#pragma unroll
      for (int b = 0; b < V; ++b) s[V * (t + T * i) + b] = r[V * i + b];
    __syncthreads();
    // Each thread now owns R / W (b, lane, i) triples and all W warps' values of each.
#pragma unroll
    for (int c = 0; c < R / W; ++c) {
      const int q = t + T * c, b = q % V, ln = (q / V) & 31, i = (q / V) >> 5;
      float u[W];
#pragma unroll
      for (int w = 0; w < W; ++w) u[w] = s[V * (ln + 32 * w + T * i) + b];
      butterflies<1, W>(u);
#pragma unroll
      for (int w = 0; w < W; ++w) s[V * (ln + 32 * w + T * i) + b] = u[w];
    }
    __syncthreads();
#pragma unroll
    for (int i = 0; i < E; ++i)
#pragma unroll
      for (int b = 0; b < V; ++b) r[V * i + b] = s[V * (t + T * i) + b];
  }
  butterflies<V, R>(r);
  Out* out = x + v * N;
#pragma unroll
  for (int i = 0; i < R; ++i) r[i] *= scale;
#pragma unroll
  for (int i = 0; i < E; ++i) store_v<V>(out + V * (t + T * i), r + V * i);
}

// A row of N elements into shared memory as it is, by T threads (16-byte `copy16`s,
// coalesced; committed, not waited for), laid out for `load_slice`: thread t copies chunks
// g = t + T·c, chunk g % CHUNKS of slice g / CHUNKS (R elements a slice), each to chunk
// (g % CHUNKS) ^ (slice % 8) of its slice, so that `load_slice`'s 16-byte loads are free of
// bank conflicts.
template <unsigned N, unsigned R, unsigned T, typename In>
__device__ __forceinline__ void stage_row(In* stage, const In* row, unsigned t) {
  constexpr unsigned PER_CHUNK = 16 / sizeof(In), CHUNKS = R / PER_CHUNK;
  static_assert(CHUNKS >= 8 && T % CHUNKS == 0, "a thread copies chunk t % CHUNKS of its slices");
  const In* in_t = row + t * PER_CHUNK;
#pragma unroll
  for (unsigned c = 0; c < N / PER_CHUNK / T; ++c) {
    const unsigned owner = t / CHUNKS + c * (T / CHUNKS);
    copy16(stage + (owner * CHUNKS + ((t % CHUNKS) ^ (owner & 7))) * PER_CHUNK,
           in_t + c * T * PER_CHUNK);
  }
  async_commit();
}

// Slice t (elements t·R … t·R + R − 1) of a row that `stage_row` staged, as floats.
template <unsigned R, typename In>
__device__ __forceinline__ void load_slice(const In* stage, unsigned t, float (&r)[R]) {
  constexpr unsigned PER_CHUNK = 16 / sizeof(In), CHUNKS = R / PER_CHUNK;
#pragma unroll
  for (unsigned j = 0; j < CHUNKS; ++j)
    load_chunk(stage + (t * CHUNKS + (j ^ (t & 7))) * PER_CHUNK, r + j * PER_CHUNK);
}

// A thread's R elements times `sc`, register p + P·i to out_t + p + P·T·i (T threads).
template <unsigned P, unsigned T, unsigned R, typename Out>
__device__ __forceinline__ void store_scaled(Out* out_t, float (&r)[R], float sc) {
#pragma unroll
  for (unsigned i = 0; i < R; ++i) r[i] *= sc;
#pragma unroll
  for (unsigned i = 0; i < R / P; ++i) store_v<P>(out_t + P * T * i, r + P * i);
}

// Two register passes with one exchange through shared memory, for n = 2^12 … 2^14
// (R = 2^two_pass_logr(LOGN) registers a thread, T = n / R threads): thread t first holds the
// R consecutive elements t·R … t·R + R − 1 and runs the butterflies over bits 0 … log2 R − 1,
// then holds elements p + P·t + P·T·i (p < P, i < R / P; P = 2 where 2T ≤ R, else 1) in
// register p + P·i and runs those over bits log2 R … LOGN − 1 (register bits log2(R / T)
// and up; the bits below were done in the first pass), ascending as the CPU reference runs
// them, so the results are bit-identical. The row reaches shared memory by `cp.async` as it
// is (16-byte chunks, coalesced); thread t's chunk j of its first-pass elements sits at chunk
// j ^ (t % 8) of its R-element slice, and the exchange puts element e at e + 4·(e / R) (four
// words of padding per R): the first pass writes 16 bytes at a time (a quarter warp's eight
// stores cover the 32 banks), the second reads P elements at a time (consecutive across
// lanes), so neither has bank conflicts, and every address is a register plus a constant.
// Shared memory: n + 4n / R floats (`fwht_smem_used`).
// Why: the f16 transforms are bound by instruction issue (f16 has half the bytes of f32 per
// element and the same arithmetic). `fwht_body` spends about 30 instructions an element at
// n = 2^13 (five shuffle stages, an exchange there and back); two passes with one-element
// accesses about 23 (13 of them the butterflies' adds), H200, M = 4096, f16 out of place
// (ms, `fwht_body` → two passes; torch copy): 2^12 0.0276 → 0.0211 (0.0188), 2^13 0.0523 →
// 0.0427 (0.0356), 2^14 0.1048 → 0.0799 (0.0674); f32 2^14 0.1424 → 0.1364 (0.1301). The
// wide exchange stores, the pairs (one 4-byte f16x2 store for two elements at 2^13), the
// scale kept in a register (ptxas otherwise reloads it from the constant bank for every
// multiply) and addresses computed once bring 2^13 to about 18.6 (2944 → 2376 a thread);
// f16 out of place, old → new in one command (torch copy): 2^12 0.0214 → 0.0209 (0.0191 –
// 0.0194), 2^13 0.0426 → 0.0379 (0.0352), 2^14 0.0810 → 0.0751 (0.0663 – 0.0666); f32
// within 1% of before. Tried for f16 2^14 and not kept: `fwht_stream`'s layouts at 256
// threads, two persistent blocks an SM, each staging its next row while it transforms
// (100 KiB of shared memory a block): 0.0786–0.0790 against 0.0749–0.0751 ms here.
// Its registers (about 145 a thread at R = 128) limit a block of 64 threads to 7 per SM;
// capping them at 128 spills. Tried at 2^12 … 2^14 and not kept (2026-12-03, BENCHMARKS.md):
// these kernels as persistent blocks (as many as the SMs hold) that stage their next row
// with `cp.async` while they transform one, as `fwht_max_h` does: f16 out of place 2^12 /
// 2^13 / 2^14 0.0213 / 0.0393–0.0395 / 0.0757–0.0758 ms against 0.0209–0.0211 /
// 0.0376–0.0378 / 0.0752–0.0754, f32 6–12% slower (f16: 96 / 194 / 194 registers a thread
// against 80 / 164 / 157).
// sm_75 keeps `fwht_body` at 2^14: n + 4n / R floats exceed its 64 KiB a block.
__host__ __device__ constexpr int two_pass_logr(int logn) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
  if (logn == 14) return 0;
#endif
  return logn == 12 ? 6 : (logn == 13 || logn == 14) ? 7 : 0;
}

// Shared memory the FWHT of 2^logn elements uses: n floats, and 4n / R more in two passes
// (the exchange puts element e at e + 4·(e / R)). The host gives at least that
// (RRS_HOST_FWHT_SMEM_<logn>, `fwht_smem`), and pads exactly where this runs two passes.
__host__ __device__ constexpr int fwht_smem_used(int logn) {
  return ((1 << logn) + (two_pass_logr(logn) ? (4 << logn) >> two_pass_logr(logn) : 0)) * 4;
}
#define RRS_FWHT_SMEM_CHECK(L, HOST)                                                        \
  RRS_HOST_CHECK(HOST >= fwht_smem_used(L) && (HOST > (4 << L)) == (two_pass_logr(L) > 0), \
                 "fwht_smem(2^" #L ")")
// Every source that includes this header gets RRS_HOST_FWHT_SMEM_<L> (`host_defines`).
RRS_FWHT_SMEM_CHECK(12, RRS_HOST_FWHT_SMEM_12);
RRS_FWHT_SMEM_CHECK(13, RRS_HOST_FWHT_SMEM_13);
RRS_FWHT_SMEM_CHECK(14, RRS_HOST_FWHT_SMEM_14);

// A float in a register that ptxas cannot trace back to the constant bank (it would reload
// a kernel parameter there for each use when registers are scarce).
__device__ __forceinline__ float in_register(float v) {
  float r;
  asm volatile("add.f32 %0, %1, 0f00000000;" : "=f"(r) : "f"(v));  // v + 0: v, or +0 for −0
  return r;
}

// The sizes of the two-pass transform of 2^LOGN elements.
template <int LOGN>
struct TwoPass {
  static constexpr unsigned LOGR = two_pass_logr(LOGN);
  static constexpr unsigned R = 1u << LOGR, T = 1u << (LOGN - LOGR), N = 1u << LOGN;
  static constexpr unsigned P = 2 * T <= R ? 2 : 1;  // consecutive elements a thread holds at the end
  static constexpr unsigned ROW = R + 4;             // an R-element slice and its padding
  static_assert(LOGR > 0 && T <= R && T >= 32, "sizes of this path");
};

// The second half of `two_pass_row`: thread t's slice after the first pass's butterflies
// (bits 0 … log2 R − 1) through `s` into its second-pass elements, and their butterflies.
// Every thread must be done reading `s` before it is called.
template <int LOGN>
__device__ __forceinline__ void two_pass_exchange(float* s, unsigned t, float (&r)[TwoPass<LOGN>::R]) {
  using L = TwoPass<LOGN>;
  constexpr unsigned R = L::R, T = L::T, P = L::P;
  float* slice = s + t * L::ROW;
#pragma unroll
  for (unsigned i = 0; i < R; i += 4) store_v<4>(slice + i, r + i);
  __syncthreads();
  // Element e = P·t + P·T·i (+ p) sits at e + 4·(P·T·i / R): P·t + P < P·T ≤ R carries
  // nothing into e / R.
  const float* column = s + P * t;
#pragma unroll
  for (unsigned i = 0; i < R / P; ++i) load_v<P>(column + P * T * i + 4 * (P * T * i / R), r + P * i);
  butterflies<R / T, R>(r);
}

// The transform of the row at `in` by the block's T threads, unscaled: thread t ends with
// element p + P·t + P·T·i in r[p + P·i]. Uses `s` (fwht_smem_used(LOGN) bytes), which the
// other threads may still be reading when it returns: synchronize before writing it.
template <int LOGN, typename In>
__device__ __forceinline__ void two_pass_row(const In* __restrict__ in, float* s, unsigned t,
                                             float (&r)[TwoPass<LOGN>::R]) {
  using L = TwoPass<LOGN>;
  constexpr unsigned R = L::R, T = L::T, N = L::N;
  // The row into shared memory as it is, then thread t's slice of R into registers.
  In* raw = reinterpret_cast<In*>(s);
  stage_row<N, R, T>(raw, in, t);
  async_wait<0>();
  __syncthreads();
  load_slice(raw, t, r);
  butterflies<1, R>(r);
  __syncthreads();  // every slice read before the exchange overwrites the buffer
  two_pass_exchange<LOGN>(s, t, r);
}

template <int LOGN, typename In, typename Out>
__device__ __forceinline__ void fwht_two_pass(Out* __restrict__ x, const In* __restrict__ src,
                                              unsigned long long vectors, float scale) {
  using L = TwoPass<LOGN>;
  extern __shared__ float s[];
  const unsigned long long v = global_block();
  if (v >= vectors) return;
  const unsigned t = threadIdx.x;
  float r[L::R];
  two_pass_row<LOGN>((src ? src : reinterpret_cast<const In*>(x)) + v * L::N, s, t, r);
  store_scaled<L::P, L::T>(x + v * L::N + L::P * t, r, in_register(scale));
}

// The f16 FWHT of rows of 2^LOGN (two-pass sizes with pairs, P = 2: 2^13) and the
// channel maxima of its output in one pass (`fwht_max_h_<LOGN>`, hadamard.cu), for Runtime
// Smooth after a rotation: a block takes rows vectors − 1 − blockIdx.x, − gridDim.x, … (the
// last rows first, so that the first rows, which the quantize after it reads first, are the
// ones written last and still in the L2), stages the next row (`cp.async`, a buffer of its
// own past the exchange's) while it transforms one, and keeps the running max of |y| of its
// 2R channels as f16 pairs in registers (the max of the bits of |y|: NaN wins, as in
// `absmax_h`). At the end it writes them to row blockIdx.x of `partial` ([gridDim.x, n] f16),
// whose channel maxima (`absmax_h`) are then those of y, bit for bit. The rows of y are
// those `fwht_two_pass` writes, bit for bit.
// Shared memory: fwht_smem_used(LOGN) + 2n bytes. 254 registers a thread (the 64 words of
// maxima beside the row's 128 floats; ptxas of CUDA 12.9, no spills), so four blocks of 64
// threads an SM, 528 on the H200.
// H200, M = 4096, in the static f16 RRS layer (Nsight Compute, µs): 37.1–38.9 with the
// reduction of its 528 rows (4.8–4.9), against `fwht_h_13` 34.7–36.6 and `absmax_h` over
// the rotated rows 18.5–19.7 (4.3 µs since the reduction takes more, smaller blocks); the
// layer at M = 4096 then 2.8% faster with static reorder, 1.2–1.9% with dynamic
// (BENCHMARKS.md).
template <int LOGN>
__device__ __forceinline__ void fwht_max_h(f16* __restrict__ x, const f16* __restrict__ src,
                                           unsigned long long vectors, float scale,
                                           u32* __restrict__ partial) {
  using L = TwoPass<LOGN>;
  constexpr unsigned R = L::R, T = L::T, N = L::N;
  static_assert(L::P == 2, "consecutive pairs at the end");
  extern __shared__ float s[];
  f16* stage = reinterpret_cast<f16*>(s + fwht_smem_used(LOGN) / 4);
  const unsigned t = threadIdx.x;
  const f16* base = src ? src : x;
  u32 most[R / 2];
#pragma unroll
  for (unsigned i = 0; i < R / 2; ++i) most[i] = 0;
  const float sc = in_register(scale);
  const long long g = gridDim.x;
  long long v = (long long)vectors - 1 - blockIdx.x;
  if (v >= 0) stage_row<N, R, T>(stage, base + v * N, t);
  for (; v >= 0; v -= g) {
    async_wait<0>();
    __syncthreads();  // row v staged (every thread's copies); `s` read by the last row
    float r[R];
    load_slice(stage, t, r);
    __syncthreads();  // the stage read: the next row may land in it
    if (v >= g) stage_row<N, R, T>(stage, base + (v - g) * N, t);
    butterflies<1, R>(r);
    two_pass_exchange<LOGN>(s, t, r);
    u32* out = reinterpret_cast<u32*>(x + v * N) + t;
#pragma unroll
    for (unsigned i = 0; i < R / 2; ++i) {
      const u32 h = halves(r[2 * i] * sc, r[2 * i + 1] * sc);
      out[T * i] = h;
      most[i] = __vmaxu2(most[i], h & 0x7fff7fffu);
    }
  }
  u32* row = partial + (size_t)blockIdx.x * (N / 2) + t;
#pragma unroll
  for (unsigned i = 0; i < R / 2; ++i) row[T * i] = most[i];
}

// 2^15 elements, streamed (`fwht_stream_f32` and `fwht_stream_f16`, entries `fwht_stream`
// and `fwht_h_stream`; the host takes them on sm_90 and newer, where a block may have
// STREAM_SMEM(In) bytes of shared memory, and launches one block per SM, each taking
// vectors blockIdx.x, + gridDim.x, …).
// Why: `fwht_body` holds a row of 2^15 in shared memory, 128 KiB of f32, so an SM runs one
// block, whose load, transform and store do not overlap. Here a block keeps its row in
// registers while the next row streams into shared memory (`cp.async`, staged as
// `fwht_two_pass` stages a row), so that the transform overlaps the loads. 512 threads, 64
// registers of elements each, in three layouts (t: thread, i: register, p < P):
//   A: e = 64·t + i                             bits 0 … 5 in registers
//   B: e = (t % 64) + 64·i + 4096·(t / 64)      bits 6 … 11
//   C: e = p + P·t + 512·P·i (register p + P·i) bits 12 … 14 left to do (9 … 11 were B's)
// so the butterflies still run bit by bit in ascending order, as the CPU reference runs them,
// and the results are bit-identical. A → B puts element e at e + 4·(e / 64) (A writes 16
// bytes at a time, 68 words apart: a quarter warp covers the 32 banks); every other access
// is consecutive across lanes, so none has bank conflicts.
// H200, M = 4096, ms (torch copy of the same tensor in the same command): f32 0.359 →
// 0.292 (0.256), f16 0.270 → 0.186 (0.129); f16 in two rounds as f32: 0.225. f32 with
// whole-row exchanges (three quarters of the next row staged, the last quarter copied into
// the buffer after the second exchange): 0.292, no faster. The 16-byte A → B stores, f16
// pairs in C and the scale in a register: f16 0.186–0.189 → 0.170 (0.1295), f32 0.292–0.293
// → 0.294–0.295 (within 1%). f16 with the groups' own barriers (`fwht_stream_f16`), two
// rounds, one command: out of place 0.1706 / 0.1707 → 0.1574 / 0.1558 (copy 0.1306); in
// place 0.1865 / 0.1876 → 0.2006 / 0.1999 in the bench's back-to-back launches, but under
// Nsight Compute (a launch at a time) out of place and in place alike take 197 µs and move
// the same DRAM bytes. Tried for f32 and not kept: each group staging its slices in a
// padded region of its own and exchanging A → B there once it has read them (four block
// barriers a vector instead of ten; shared memory 204800 bytes): 0.2959–0.2965 against
// 0.2934–0.2936 ms, correct but 1% slower.
#define STREAM_T 512
#define STREAM_ROUNDS(In) (sizeof(In) == 4 ? 2 : 1)
#define STREAM_XWORDS(In) ((32768 + 2048) / STREAM_ROUNDS(In))  // exchange buffer, floats
#define STREAM_SMEM(In) ((1 << 15) * (int)sizeof(In) + STREAM_XWORDS(In) * 4)

// f16 rows: beside the staged row (64 KiB) the exchange buffer holds a whole row of f32,
// padded, and C holds pairs (P = 2: 8-byte reads, one f16x2 store for two elements). Group
// G = t / 64 of 64 threads holds elements 4096·G … 4096·G + 4095 in layouts A and B alike,
// so it stages its own slices, and its exchange A → B and its stores for C take the group's
// barrier (`group_sync(1 + G, 64)`), not the block's. Only C's reads, and the next vector's
// reuse of the exchange buffer, wait for the whole block: two block barriers a vector
// instead of six, so that one group's butterflies overlap another's shared-memory accesses
// (with one block an SM and a block barrier before each phase, the SM's adders idled while
// it exchanged, and its shared memory while it added). B's stores for C are padded as A's
// (element e at e + 4·(e / 64)), so that each group writes only its own 4352 words.
__device__ __forceinline__ void fwht_stream_f16(f16* __restrict__ x, const f16* __restrict__ src,
                                                unsigned long long vectors, float scale) {
  constexpr unsigned N = 1 << 15, R = 64, GT = 64, GN = GT * R;  // a group's threads, elements
  static_assert(N == STREAM_T * R && STREAM_XWORDS(f16) == N / 64 * 68, "sizes of this path");
  extern __shared__ float s[];
  f16* stage = reinterpret_cast<f16*>(s);
  float* xb = s + N / 2;
  const unsigned t = threadIdx.x, g = t / GT, tg = t % GT;
  const f16* base = src ? src : x;
  // The group's slices of vector v into the stage as they are (layout A's slices).
  auto stage_vector = [&](unsigned long long v) {
    stage_row<GN, R, GT>(stage + GN * g, base + v * N + GN * g, tg);
  };
  unsigned long long v = blockIdx.x;
  if (v >= vectors) return;
  stage_vector(v);
  // Register i at base + 68·i: A's element 64·t + i, B's tg + 64·i + 4096·g; C's pair i
  // (elements 2t + 1024·i, + 1) at c_read + 1088·i.
  const unsigned a_at = 68 * t, b_at = tg + 68 * 64 * g, c_read = 2 * t + 4 * (t / 32);
  const float sc = in_register(scale);
  for (; v < vectors; v += gridDim.x) {
    async_wait<0>();
    group_sync(1 + g, GT);  // the group's slices of vector v staged
    float r[R];
    load_slice(stage, t, r);
    group_sync(1 + g, GT);  // ... and read: the group's slices of the next vector may land
    if (v + gridDim.x < vectors) stage_vector(v + gridDim.x);
    butterflies<1, R>(r);  // bits 0 … 5
    __syncthreads();       // the last vector's C reads done: the exchange buffer is free
#pragma unroll
    for (unsigned i = 0; i < R; i += 4) store_v<4>(xb + a_at + i, r + i);
    group_sync(1 + g, GT);
#pragma unroll
    for (unsigned i = 0; i < R; ++i) r[i] = xb[b_at + 68 * i];
    group_sync(1 + g, GT);  // the group's B reads done before its stores for C
    butterflies<1, R>(r);   // bits 6 … 11
#pragma unroll
    for (unsigned i = 0; i < R; ++i) xb[b_at + 68 * i] = r[i];
    __syncthreads();
#pragma unroll
    for (unsigned i = 0; i < R / 2; ++i) load_v<2>(xb + c_read + 1088 * i, r + 2 * i);
    butterflies<8, R>(r);  // bits 12 … 14
    store_scaled<2, STREAM_T>(x + v * N + 2 * t, r, sc);
  }
}

// f32 rows: beside the staged row (128 KiB) the exchange buffer holds half a row, so each
// exchange takes two rounds, split on an element bit that is a thread bit in both layouts
// (so that each thread reads only after writing all it holds) and dropped from the
// address: bit 14 for A → B (threads t / 256 = round), bit 5 for B → C (warps of that
// parity; B → C puts element e at its index with bit 5 dropped, and C holds single
// elements, P = 1, since with pairs bit 5 would be thread bit 4 in C but thread bit 5 in B).
__device__ __forceinline__ void fwht_stream_f32(float* __restrict__ x,
                                                const float* __restrict__ src,
                                                unsigned long long vectors, float scale) {
  constexpr unsigned N = 1 << 15, T = STREAM_T, R = 64, ROUNDS = STREAM_ROUNDS(float);
  static_assert(N == T * R && ROUNDS == 2, "sizes of this path");
  extern __shared__ float s[];
  float* stage = s;
  float* xb = s + N;
  const unsigned t = threadIdx.x;
  const float* base = src ? src : x;
  // Vector v into the stage as it is (layout A's slices, as in `fwht_two_pass`).
  auto stage_vector = [&](unsigned long long v) { stage_row<N, R, T>(stage, base + v * N, t); };
  unsigned long long v = blockIdx.x;
  if (v >= vectors) return;
  stage_vector(v);
  // Each exchange's writes and reads (register i at base + stride · i), the round's bit
  // dropped from the element's address.
  const unsigned ab_round = t >> 8, bc_round = (t >> 5) & 1;
  const unsigned a_write = 68 * (t & 255), b_read = (t & 63) + 68 * 64 * ((t >> 6) & 3);
  const unsigned b_write = (t & 31) + 2048 * (t >> 6), c_read = (t & 31) + 32 * (t >> 6);
  const float sc = in_register(scale);
  for (; v < vectors; v += gridDim.x) {
    async_wait<0>();
    __syncthreads();  // vector v staged (every thread's copies)
    float r[R];
    load_slice(stage, t, r);
    __syncthreads();  // the stage read: the next vector may land in it
    if (v + gridDim.x < vectors) stage_vector(v + gridDim.x);
    butterflies<1, R>(r);  // bits 0 … 5
#pragma unroll
    for (unsigned round = 0; round < ROUNDS; ++round) {
      if (ab_round == round) {
#pragma unroll
        for (unsigned i = 0; i < R; i += 4) store_v<4>(xb + a_write + i, r + i);
      }
      __syncthreads();
      if (ab_round == round) {
#pragma unroll
        for (unsigned i = 0; i < R; ++i) r[i] = xb[b_read + 68 * i];
      }
      __syncthreads();
    }
    butterflies<1, R>(r);  // bits 6 … 11
#pragma unroll
    for (unsigned round = 0; round < ROUNDS; ++round) {
      if (bc_round == round) {
#pragma unroll
        for (unsigned i = 0; i < R; ++i) xb[b_write + 32 * i] = r[i];
      }
      __syncthreads();
      if (bc_round == round) {
#pragma unroll
        for (unsigned i = 0; i < R; ++i) r[i] = xb[c_read + 256 * i];
      }
      __syncthreads();
    }
    butterflies<8, R>(r);  // bits 12 … 14
    store_scaled<1, T>(x + v * N + t, r, sc);
  }
}
