// A4W4 GEMM on Hopper's warpgroup tensor-core instructions (`wgmma.mma_async`, sm_90a):
//   y[i, j] = (sa[i] · sw[j]) · Σ_s gs[s] · P_s[i, j],   P_s = Σ_{k in step s} a[i, k] · w[j, k]
// a: [m, k / 8] u32, w: [n, k / 8] u32 (INT4, 8 codes per word, lower index in the lower
// nibble), sa: [m], sw: [n], gs: [k / 128] (groups of one 128-code step) or null (plain
// A4W4: one integer sum over all of k, k ≤ 65536). The host routes every other shape to
// `gemm.cu`.
//
// The blocks are persistent (the host launches as many as the SMs hold): a block takes the
// 64·CONS × BN tiles of y (plain: 128 × 64; with group scales 192 × 96 or 256 × 64, see
// the entry points) blockIdx.x, + gridDim.x, … in turn, in bands of tile columns (see the
// body), and has 1 + CONS warpgroups (warp specialization):
//  * the producer copies each 128-code step's packed words from global to shared memory as
//    they are (`cp.async`, two steps ahead), then unpacks the W rows into wgmma's canonical
//    K-major layout without swizzle (8 rows × 16 bytes per core matrix, 128 contiguous
//    bytes) as 16 · code s8, and signals the step ready on an mbarrier;
//  * CONS consumers, 64 rows each, unpack their A fragments from the packed words into
//    registers (16 · code, as `gemm.cu`'s INT8 path does), issue
//    `wgmma.mma_async.m64nBNk32.s32.s8.s8` with A from registers and W from shared memory,
//    fold each step's integer sums into f32 (Runtime Smooth's group scale), and signal the
//    step's buffers free on a second mbarrier.
// The K order inside a step is a permutation, the same for both operands (the sum is
// order-free): k32 block c takes word 4t + c of each row's 16 words (t = 0 … 3), its even
// nibbles as K positions 4t … 4t + 3 and its odd nibbles as 16 + 4t … 16 + 4t + 3, which is
// what a consumer thread of quad lane t finds in the one 16-byte load of its row's words
// 4t … 4t + 3. The products are 256× the true ones, exactly (2^-8 goes into the scale).
// The fold adds gs[s] · 2^-8 · P to the f32 accumulator in one fused multiply-add: the CPU
// reference's rounding, so the output is bit-identical.
// Measured on the H200 at 8192³ (`gemm.cu`'s INT8 `mma.sync` kernel in the same command),
// with two consumers (128 × 128 tiles with group scales) until the entry points' note, and
// before the producer change below: plain 1.25 ms (1.55), with group scales 1.60 ms (1.89).
// Tried and not kept: a separate multiply and add in the fold (1.76 ms); converting the
// sums first and folding them while the next step multiplies (1.76 ms: 64 more registers
// per consumer thread); ordering the two consumers' wgmma issue with an mbarrier pair, so
// that one folds while the other multiplies (under 1%); splitting each consumer's columns
// in two halves to fold one while the other multiplies (ptxas serializes the wgmmas: it
// does not track which group `wgmma.wait_group 1` completed); loading the next step's A
// fragments into a second register set while the current step multiplies, and (without
// group scales) queueing the next step's wgmmas behind the current ones: plain 1.45 against
// 1.31 ms; five buffers with the copies three steps ahead instead of four and two: 2–5%
// slower; loading the next step's group scale before the waits (whose memory clobbers hold
// the load back until the fold): within 1% (1.606–1.607 against 1.615–1.636 ms, interleaved
// in one command).
// What bounds it (Nsight Compute, source-level stall samples at 8192³, `2fe0569`'s parent):
// the producer. Its warps were never held by the consumers (3% of their samples on the
// `empty` barrier, under 1% on `cp.async`) while the consumers spent 12% of all samples
// waiting on `full`; the producer's loop re-derived the shared window's base (S2R
// SR_CgaCtaId) and read each W row just before storing it (LDS → LOP3 → STS, four
// shared-memory latencies a step). Reading its four rows first, by 32-bit shared addresses:
// with group scales 1.61 → 1.46 ms (0.408 → 0.372 ms at 2048 × 8192²), plain 1.29 → 1.27
// (`torch._int_mm` 1.19–1.23, in the same commands). Now the producer waits on `empty` too,
// and the SM issues about one instruction every two cycles a scheduler; the fold's 64
// conversions and 64 fused multiply-adds a thread a step are two thirds of the consumers'
// instructions. Tried in the same commands and not kept: a second producer warpgroup
// (1.461–1.466 against 1.460–1.473 ms); the group scale read a step ahead (ptxas then folds
// before issuing the next wgmmas: 1.54–1.55 ms); alternating two sets of integer sums so
// that a step's fold follows the next step's issue (1.51 ms with the descriptor change,
// 1.60–1.61 before the producer's: ptxas still places most of the fold between the wgmmas);
// the consumers' loop unrolled by four, 13% fewer instructions (1.455–1.460 against
// 1.455–1.464 ms): issue slots are not the bound, the latency of each consumer's chain from
// its wgmmas' completion to the next issue is; each step as two halves of 64 columns, one
// folded while the other multiplies (`wgmma.wait_group 1`, two sets of A fragments, the
// pipeline drained every fourth step, since ptxas serializes every wgmma (C7514) when one
// is in flight where the loop's paths meet): correct, but 1.64 against 1.46 ms. The
// conversion's pipe is not the bound either: converting exactly without it (|P| ≤ 2^21, so
// bits(P + 0x4B400000) as f32 is 1.5 · 2^23 + P; an integer add and a float subtract in
// place of I2FP), or with the accumulators seeded with 0x4B400000 so that wgmma adds that
// (a float subtract, and a move to reseed): both 1.61 against 1.46 ms (three rounds
// interleaved in one command): one more instruction an element in the fold costs 10%.
#define WG_PRODUCERS 128  // warpgroup 0: copies and unpacks W
// Warpgroups 1 … CONS: A fragments of 64 rows each, wgmma and the fold (tiles of 64 · CONS
// rows).
#define WG_THREADS(CONS) (WG_PRODUCERS + 128 * (CONS))
#define WG_BUFFERS 4      // steps in shared memory (packed A and W, unpacked W)
#define WG_AHEAD 2        // steps the producer's copies run ahead of its unpacking
// At most WG_BUFFERS − 1: the producer signals step s, then waits for the release of step
// s + WG_AHEAD − WG_BUFFERS before it copies step s + WG_AHEAD, and a consumer releases
// step s − 1 once step s is ready. (Waiting before it signals, as the producer did until
// the persistent blocks, deadlocked at 4 buffers 3 ahead and put the release of step s − 2
// on the path to step s: the consumers waited for the producer in 14% of their stall
// samples. H200, N = K = 8192, ms, two rounds interleaved in one command, wait-then-signal
// → signal-then-wait: with group scales M = 2048 0.346 / 0.352 → 0.327 / 0.328, M = 8192
// 1.331 / 1.314 → 1.278 / 1.310; 3 ahead, signal-then-wait, with the epilogue's loads
// below: 0.339 / 0.342 and 1.260 / 1.253 against 0.319 / 0.322 and 1.224 / 1.226 2 ahead.)
// 6 or 5 buffers 3 ahead (wait-then-signal) timed within the spread of 4 buffers 2 ahead
// (1.442 / 1.444 against 1.458–1.467 ms, two consumers a block).
// A buffer: packed A (BM rows × 64 B), packed W (BN rows × 64 B), unpacked W (BN rows × 128 B).
#define WG_BUFFER_BYTES(BM, BN) ((BM) * 64 + (BN) * 64 + (BN) * 128)
#define WG_SMEM(BM, BN) (WG_BUFFERS * WG_BUFFER_BYTES(BM, BN) + 2 * WG_BUFFERS * 8)
// The kernels' tiles (consumer warpgroups, columns), as the host launches them: with group
// scales 192 × 96 (`_wide`) and 256 × 64 (`_tall`), the host taking the one with fewer
// waves of blocks, weighted by the time of a wave; without, 128 × 64.
#define WG_HOST_CHECK(KIND, CONS, BN)                                                     \
  RRS_HOST_CHECK(RRS_HOST_WGMMA_##KIND##_TILE == (CONS) * 1000 + (BN) &&                  \
                     RRS_HOST_WGMMA_##KIND##_THREADS == WG_THREADS(CONS) &&               \
                     RRS_HOST_WGMMA_##KIND##_SMEM == WG_SMEM(64 * (CONS), BN),            \
                 "wgmma " #KIND " tile")
WG_HOST_CHECK(STEP_WIDE, 3, 96);
WG_HOST_CHECK(STEP_TALL, 4, 64);
WG_HOST_CHECK(PLAIN, 2, 64);

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900 && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define RRS_WGMMA 1
#endif

#ifdef RRS_WGMMA
__device__ __forceinline__ u32 smem_addr(const void* p) { return (u32)__cvta_generic_to_shared(p); }

// A shared-memory matrix descriptor, no swizzle: start address, LBO (between core matrices
// along K) and SBO (between 8-row groups), all in 16-byte units.
__device__ __forceinline__ unsigned long long wg_desc(u32 addr, u32 lbo, u32 sbo) {
  return (unsigned long long)((addr & 0x3FFFF) >> 4) | ((unsigned long long)(lbo >> 4) << 16) |
         ((unsigned long long)(sbo >> 4) << 32);
}

// d (+)= A · Bᵀ for a 64 × 128 × 32 s8 block, A from registers (this warp's 16 rows in the
// m16n8k32 fragment layout), B from shared memory; scale_d = 0 starts a fresh sum.
__device__ __forceinline__ void wgmma_m64n128k32(int (&d)[64], const u32 (&af)[4],
                                                 unsigned long long db, int scale_d) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k32.s32.s8.s8 {"
      "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15,  "
      "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31,  "
      "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47,  "
      "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, "
      "{%64, %65, %66, %67}, %68, p;\n}\n"
      : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3]), "+r"(d[4]), "+r"(d[5]), "+r"(d[6]),
        "+r"(d[7]), "+r"(d[8]), "+r"(d[9]), "+r"(d[10]), "+r"(d[11]), "+r"(d[12]), "+r"(d[13]),
        "+r"(d[14]), "+r"(d[15]), "+r"(d[16]), "+r"(d[17]), "+r"(d[18]), "+r"(d[19]),
        "+r"(d[20]), "+r"(d[21]), "+r"(d[22]), "+r"(d[23]), "+r"(d[24]), "+r"(d[25]),
        "+r"(d[26]), "+r"(d[27]), "+r"(d[28]), "+r"(d[29]), "+r"(d[30]), "+r"(d[31]),
        "+r"(d[32]), "+r"(d[33]), "+r"(d[34]), "+r"(d[35]), "+r"(d[36]), "+r"(d[37]),
        "+r"(d[38]), "+r"(d[39]), "+r"(d[40]), "+r"(d[41]), "+r"(d[42]), "+r"(d[43]),
        "+r"(d[44]), "+r"(d[45]), "+r"(d[46]), "+r"(d[47]), "+r"(d[48]), "+r"(d[49]),
        "+r"(d[50]), "+r"(d[51]), "+r"(d[52]), "+r"(d[53]), "+r"(d[54]), "+r"(d[55]),
        "+r"(d[56]), "+r"(d[57]), "+r"(d[58]), "+r"(d[59]), "+r"(d[60]), "+r"(d[61]),
        "+r"(d[62]), "+r"(d[63])
      : "r"(af[0]), "r"(af[1]), "r"(af[2]), "r"(af[3]), "l"(db), "r"(scale_d));
}

__device__ __forceinline__ void wgmma_m64n64k32(int (&d)[32], const u32 (&af)[4],
                                                unsigned long long db, int scale_d) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n64k32.s32.s8.s8 {"
      "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15,  "
      "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, "
      "{%32, %33, %34, %35}, %36, p;\n}\n"
      : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3]), "+r"(d[4]), "+r"(d[5]), "+r"(d[6]),
        "+r"(d[7]), "+r"(d[8]), "+r"(d[9]), "+r"(d[10]), "+r"(d[11]), "+r"(d[12]), "+r"(d[13]),
        "+r"(d[14]), "+r"(d[15]), "+r"(d[16]), "+r"(d[17]), "+r"(d[18]), "+r"(d[19]),
        "+r"(d[20]), "+r"(d[21]), "+r"(d[22]), "+r"(d[23]), "+r"(d[24]), "+r"(d[25]),
        "+r"(d[26]), "+r"(d[27]), "+r"(d[28]), "+r"(d[29]), "+r"(d[30]), "+r"(d[31])
      : "r"(af[0]), "r"(af[1]), "r"(af[2]), "r"(af[3]), "l"(db), "r"(scale_d));
}
__device__ __forceinline__ void wgmma_m64n96k32(int (&d)[48], const u32 (&af)[4],
                                                unsigned long long db, int scale_d) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %53, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n96k32.s32.s8.s8 {"
      "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15,  "
      "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31,  "
      "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47}, "
      "{%48, %49, %50, %51}, %52, p;\n}\n"
      : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3]), "+r"(d[4]), "+r"(d[5]), "+r"(d[6]),
        "+r"(d[7]), "+r"(d[8]), "+r"(d[9]), "+r"(d[10]), "+r"(d[11]), "+r"(d[12]), "+r"(d[13]),
        "+r"(d[14]), "+r"(d[15]), "+r"(d[16]), "+r"(d[17]), "+r"(d[18]), "+r"(d[19]),
        "+r"(d[20]), "+r"(d[21]), "+r"(d[22]), "+r"(d[23]), "+r"(d[24]), "+r"(d[25]),
        "+r"(d[26]), "+r"(d[27]), "+r"(d[28]), "+r"(d[29]), "+r"(d[30]), "+r"(d[31]),
        "+r"(d[32]), "+r"(d[33]), "+r"(d[34]), "+r"(d[35]), "+r"(d[36]), "+r"(d[37]),
        "+r"(d[38]), "+r"(d[39]), "+r"(d[40]), "+r"(d[41]), "+r"(d[42]), "+r"(d[43]),
        "+r"(d[44]), "+r"(d[45]), "+r"(d[46]), "+r"(d[47])
      : "r"(af[0]), "r"(af[1]), "r"(af[2]), "r"(af[3]), "l"(db), "r"(scale_d));
}
// The same for BN columns.
template <int BN> __device__ __forceinline__ void wgmma_rs(int (&d)[BN / 2], const u32 (&af)[4],
                                                           unsigned long long db, int scale_d) {
  static_assert(BN == 128 || BN == 96 || BN == 64, "tile columns");
  if constexpr (BN == 128) wgmma_m64n128k32(d, af, db, scale_d);
  else if constexpr (BN == 96) wgmma_m64n96k32(d, af, db, scale_d);
  else wgmma_m64n64k32(d, af, db, scale_d);
}

__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() {
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}
template <int N> __device__ __forceinline__ void wgmma_wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
// Keep the compiler from moving reads of the accumulators above the wait that completes them.
template <int R> __device__ __forceinline__ void pin(int (&d)[R]) {
#pragma unroll
  for (int i = 0; i < R; ++i) asm volatile("" : "+r"(d[i])::"memory");
}
// Make this thread's generic-proxy shared-memory writes visible to wgmma (the async proxy).
__device__ __forceinline__ void fence_proxy_async() {
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}
// mbarriers in shared memory: init (one thread), arrive, and wait for a phase's parity.
__device__ __forceinline__ void mbar_init(unsigned long long* bar, u32 count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(smem_addr(bar)), "r"(count) : "memory");
}
__device__ __forceinline__ void mbar_arrive(unsigned long long* bar) {
  asm volatile("{\n.reg .b64 state;\nmbarrier.arrive.shared::cta.b64 state, [%0];\n}\n" ::"r"(smem_addr(bar))
               : "memory");
}
__device__ __forceinline__ void mbar_wait(unsigned long long* bar, u32 parity) {
  asm volatile(
      "{\n.reg .pred done;\nwait:\n"
      "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
      "@!done bra wait;\n}\n" ::"r"(smem_addr(bar)),
      "r"(parity)
      : "memory");
}
// Shared memory by 32-bit shared-window addresses (no generic-to-shared conversion in the
// loops), and `cp.async` of 16 bytes into it.
__device__ __forceinline__ uint4 lds128(u32 addr) {
  uint4 v;
  asm volatile("ld.shared.v4.u32 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "r"(addr));
  return v;
}
__device__ __forceinline__ void sts32(u32 addr, u32 v) {
  asm volatile("st.shared.u32 [%0], %1;\n" ::"r"(addr), "r"(v));
}
__device__ __forceinline__ void cp_async16(u32 dst, const void* src) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(dst), "l"(src));
}
// Hand registers from the producer warpgroup to the consumers (sm_90a).
template <int N> __device__ __forceinline__ void regs_dec() {
  asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(N));
}
template <int N> __device__ __forceinline__ void regs_inc() {
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(N));
}
#endif

template <int SCALED, int BN, int CONS, int MINB>
__device__ __forceinline__ void gemm_wgmma_body(const u32* __restrict__ a, const u32* __restrict__ w,
                                                const float* __restrict__ sa,
                                                const float* __restrict__ sw,
                                                const float* __restrict__ gs, float* __restrict__ y,
                                                unsigned m, unsigned n, unsigned k,
                                                unsigned band) {
#ifdef RRS_WGMMA
  // Buffer b: [packed A rows | packed W rows | unpacked W], then the mbarriers.
  extern __shared__ __align__(1024) unsigned char smem[];
  // Registers: a block gets LAUNCH_REGS a thread at launch (65536 / (MINB · threads), down
  // to a multiple of 8); the producer gives some back (PRODUCER_REGS) and the consumers take
  // what it gave (CONSUMER_REGS, down to a multiple of 8): more than the block got and
  // `setmaxnreg.inc` waits forever. Plain, two blocks: 128 · 40 + 256 · 96 ≤ 384 · 80;
  // three consumers: 128 · 56 + 384 · 152 = 512 · 128 (40 for the producer there spills
  // two registers in its loop); four: 128 · 56 + 512 · 104 ≤ 640 · 96.
  constexpr int LAUNCH_REGS = 65536 / (MINB * WG_THREADS(CONS)) / 8 * 8;
  constexpr int PRODUCER_REGS = MINB == 2 ? 40 : 56;
  constexpr int CONSUMER_REGS =
      (WG_THREADS(CONS) * LAUNCH_REGS - 128 * PRODUCER_REGS) / (128 * CONS) / 8 * 8;
  static_assert(128 * PRODUCER_REGS + 128 * CONS * CONSUMER_REGS <= WG_THREADS(CONS) * LAUNCH_REGS,
                "registers");
  constexpr int BM = 64 * CONS, PACKED_A = BM * 64;  // A's packed step: BM rows × 64 B
  constexpr int BUFFER = WG_BUFFER_BYTES(BM, BN), UNPACKED = PACKED_A + BN * 64;
  static_assert(BN % 32 == 0 && CONS >= 2, "the producer's rows: BN / 32 W rows a thread");
  unsigned long long* full =
      reinterpret_cast<unsigned long long*>(smem + WG_BUFFERS * BUFFER);  // ready
  unsigned long long* empty = full + WG_BUFFERS;                                    // consumed
  const u32 sbase = smem_addr(smem);  // the same buffers as shared-window addresses
  auto sbuf = [&](unsigned s) { return sbase + (s % WG_BUFFERS) * BUFFER; };
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, wg = warp >> 2;
  const unsigned row_bytes = k / 2, steps = k / 128;
  if (tid == 0) {
    for (int b = 0; b < WG_BUFFERS; ++b) {
      mbar_init(&full[b], WG_PRODUCERS);
      mbar_init(&empty[b], 128 * CONS);
    }

    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
  }
  __syncthreads();

  // Tiles: a block takes tiles blockIdx.x, + gridDim.x, … (persistent: the host launches
  // at most MINB blocks an SM), in bands of `band` tile columns (`banded_tile`). Both roles
  // walk the block's steps as one sequence (g: the step's index in it; buffer
  // g % WG_BUFFERS), so that the producer copies and unpacks the next tile's first steps
  // while the consumers finish a tile and write it out.
  // Why bands: in row-major order the blocks of one wave share a few rows of A but read
  // W's columns of one or two whole tile rows, and every wave reads all of W again; with
  // bands a wave's tiles form a block of about (blocks / band) × band tiles, whose operands
  // take fewer bytes, and the next wave goes on down the same band's columns of W, which
  // the L2 still holds. H200, row-major → bands of 8 (the host's default, `GEMM_BAND`), ms,
  // two runs each in one command, with group scales / plain: 2048 × 8192 × 8192 0.318 →
  // 0.315 / 0.296 → 0.288; 4096 × 8192² 0.625–0.628 → 0.596–0.598 / 0.591–0.595 →
  // 0.585–0.589; 8192³ 1.179–1.180 → 1.147–1.148 / 1.153 → 1.152–1.154; 4096 × 28672 × 8192
  // (packed W 117 MB, past the L2) 2.234–2.243 → 1.989–1.998 / 2.253–2.259 → 1.982–2.002;
  // 4096 × 8192 × 28672 2.065–2.085 → 1.986–1.987 / 2.024–2.028 → 1.960–1.964. Bands of 4,
  // 6, 12, 16 and 24 were within 2% of 8 (24 best at 8192³: 1.130 / 1.139; 6 at M = 4096:
  // 0.589–0.591).
  const unsigned tiles_n = (n + BN - 1) / BN, tiles_m = (m + BM - 1) / BM;
  const unsigned tiles = tiles_n * tiles_m;
  // Tile t's first row and column (`banded_tile`, common.cuh).
  auto tile_origin = [&](unsigned t, unsigned& i0, unsigned& j0) {
    banded_tile(t, tiles_m, tiles_n, band, i0, j0);
    i0 *= BM, j0 *= BN;
  };
  const unsigned my_tiles = blockIdx.x < tiles ? (tiles - 1 - blockIdx.x) / gridDim.x + 1 : 0;
  const unsigned total = my_tiles * steps;

  if (wg == 0) {
    // Producer. A thread owns chunk t = lane % 4 (16 of a row's 64 bytes per step) of rows
    // 8 · (warp + 4l) + lane / 4 of both operands (l < 4 for A, l < BN / 32 for W): a warp
    // covers 8 whole rows (full sectors in global memory, 512 contiguous bytes in the packed
    // buffer). Rows past m or n read the last row. Step g's copies land in buffer
    // g % WG_BUFFERS once the consumers have released step g − WG_BUFFERS.
    // Registers (PRODUCER_REGS, CONSUMER_REGS below) moved to the consumers.
    regs_dec<PRODUCER_REGS>();
    const unsigned t = lane & 3;
    constexpr int AL = BM / 32, WL = BN / 32;  // A and W rows per thread
    auto row_of = [&](int l) { return 8 * (warp + 4 * l) + (lane >> 2); };
    // The copies' cursor: tile ct, the byte offset of its step in a packed row, and the
    // thread's rows of the tile (set once a tile, so that a step's copies only add).
    unsigned ct = blockIdx.x, offset = 0;
    const unsigned char* arow[AL];
    const unsigned char* wrow[WL];
    auto start_tile = [&]() {
      unsigned i0, j0;
      tile_origin(ct, i0, j0);
      const unsigned char* ab = reinterpret_cast<const unsigned char*>(a) + t * 16;
      const unsigned char* wb = reinterpret_cast<const unsigned char*>(w) + t * 16;
#pragma unroll
      for (int l = 0; l < AL; ++l) arow[l] = ab + (size_t)min(i0 + row_of(l), m - 1) * row_bytes;
#pragma unroll
      for (int l = 0; l < WL; ++l) wrow[l] = wb + (size_t)min(j0 + row_of(l), n - 1) * row_bytes;
    };
    if (ct < tiles) start_tile();
    auto issue_copies = [&](unsigned g) {
      if (g < total) {
        if (g >= WG_BUFFERS) mbar_wait(&empty[g % WG_BUFFERS], ((g / WG_BUFFERS) + 1) & 1);
        const u32 bp = sbuf(g);
#pragma unroll
        for (int l = 0; l < (AL > WL ? AL : WL); ++l) {
          const unsigned row = row_of(l);
          if (l < AL) cp_async16(bp + row * 64 + t * 16, arow[l] + offset);
          if (l < WL) cp_async16(bp + PACKED_A + row * 64 + t * 16, wrow[l] + offset);
        }
        offset += 64;
        if (offset == row_bytes) {
          offset = 0, ct += gridDim.x;
          if (ct < tiles) start_tile();
        }
      }
      async_commit();
    };
#pragma unroll
    for (int g = 0; g < WG_AHEAD; ++g) issue_copies(g);
    for (unsigned g = 0; g < total; ++g) {
      async_wait<WG_AHEAD - 1>();  // step g's chunks (this thread's) have landed
      // W: word 4t + c of a row → even nibbles as word t of column chunk 2c, odd nibbles as
      // word t of chunk 2c + 1. Chunk c of 8-row group r / 8 sits at (c · 16 + r / 8) · 128,
      // row r % 8 at 16 · (r % 8): a warp's stores of one (chunk, l) cover 128 bytes. All
      // of the thread's words are read before the first store (one shared-memory latency a
      // step, not one per row).
      const u32 bp = sbuf(g);
      uint4 q[WL];
#pragma unroll
      for (int l = 0; l < WL; ++l) q[l] = lds128(bp + PACKED_A + row_of(l) * 64 + t * 16);
#pragma unroll
      for (int l = 0; l < WL; ++l) {
        const unsigned row = row_of(l);
        const u32 word[4] = {q[l].x, q[l].y, q[l].z, q[l].w};
        const u32 dst = bp + UNPACKED + (row / 8) * 128 + (row % 8) * 16 + t * 4;
#pragma unroll
        for (int c = 0; c < 4; ++c) {
          sts32(dst + (2 * c) * (BN / 8) * 128, even_nibbles_x16(word[c]));
          sts32(dst + (2 * c + 1) * (BN / 8) * 128, odd_nibbles_x16(word[c]));
        }
      }
      fence_proxy_async();  // the unpacked W visible to wgmma, ...
      mbar_arrive(&full[g % WG_BUFFERS]);  // ... and A and W to the consumers
      issue_copies(g + WG_AHEAD);  // (after the signal: see WG_AHEAD)
    }
    async_wait<0>();
    return;
  }

  // Consumers: warpgroup 1 + cw owns rows 64 · cw … 64 · cw + 63; its warp w4 = warp % 4 the
  // 16 rows from 64 · cw + 16 · w4, of which thread (g, t4) holds rows g and g + 8.
  regs_inc<CONSUMER_REGS>();
  const int cw = wg - 1, g = lane >> 2, t4 = lane & 3;
  const unsigned arow = 64 * cw + 16 * (warp & 3) + g;
  // Step s's A fragments: words 4·t4 … 4·t4 + 3 of rows g and g + 8; k32 block c takes word c,
  // even nibbles (rows g, g + 8) then odd nibbles.
  auto load_a = [&](unsigned s, u32 (&af)[4][4]) {
    const u32 bp = sbuf(s);
    const uint4 q0 = lds128(bp + arow * 64 + t4 * 16), q1 = lds128(bp + (arow + 8) * 64 + t4 * 16);
    const u32 r0[4] = {q0.x, q0.y, q0.z, q0.w}, r1[4] = {q1.x, q1.y, q1.z, q1.w};
#pragma unroll
    for (int c = 0; c < 4; ++c) {
      af[c][0] = even_nibbles_x16(r0[c]);
      af[c][1] = even_nibbles_x16(r1[c]);
      af[c][2] = odd_nibbles_x16(r0[c]);
      af[c][3] = odd_nibbles_x16(r1[c]);
    }
  };
  constexpr int R = BN / 2;  // accumulators per thread
  int acc[R];
  float out[R];
#pragma unroll
  for (int e = 0; e < R; ++e) acc[e] = 0, out[e] = 0.0f;
  // W's descriptor in buffer 0 (column chunks 2c, 2c + 1 — LBO: BN / 8 groups · 128 B apart
  // — and 8-row groups 128 B apart). The others differ only in the start address, whose
  // field (bits 0 … 13, in 16-byte units) holds every shared-memory address, so an offset
  // adds to the descriptor without a carry out of the field.
  const unsigned long long desc0 = wg_desc(sbase + UNPACKED, (BN / 8) * 128, 128);
  // The 4 wgmmas (K = 4 × 32) of the block's step q, a tile's first when `first` (a fresh
  // sum; with group scales every step's is).
  auto issue_mma = [&](unsigned q, bool first, const u32 (&af)[4][4]) {
    const u32 b = (q % WG_BUFFERS) * (BUFFER / 16);
    wgmma_fence();
#pragma unroll
    for (int c = 0; c < 4; ++c) {
      const unsigned long long db = desc0 + b + (2 * c) * (BN / 8) * 8;
      wgmma_rs<BN>(acc, af[c], db, SCALED == 2 || first ? c > 0 : 1);
    }
    wgmma_commit();
  };
  auto ready = [&](unsigned q) { mbar_wait(&full[q % WG_BUFFERS], (q / WG_BUFFERS) & 1); };
  auto release = [&](unsigned q) { mbar_arrive(&empty[q % WG_BUFFERS]); };
  // Step s (of its tile) into the f32 sums.
  auto fold = [&](unsigned s) {
    if (SCALED == 2) {
      const float sc = gs[s] * (1.0f / 256.0f);
      pin(acc);
#pragma unroll
      for (int e = 0; e < R; ++e) out[e] = __fmaf_rn(sc, (float)acc[e], out[e]);
    }
  };

  u32 af[4][4];
  const unsigned last = steps - 1;
  unsigned q0 = 0;  // the block's index of the tile's first step
  for (unsigned tile = blockIdx.x; tile < tiles; tile += gridDim.x, q0 += steps) {
    unsigned i0, j0;
    tile_origin(tile, i0, j0);
    // The last step is peeled off the loop, so that no branch inside it decides whether a
    // wgmma is issued (ptxas then keeps the wgmmas asynchronous).
    ready(q0);
    load_a(q0, af);
    issue_mma(q0, true, af);
    for (unsigned s = 0; s < last; ++s) {
      ready(q0 + s + 1);
      wgmma_wait<0>();  // step s is done: its buffer, A registers and sums are free
      release(q0 + s);
      load_a(q0 + s + 1, af);
      fold(s);
      issue_mma(q0 + s + 1, false, af);
    }
    // The epilogue's scales, loaded while the last step multiplies (read after its wait
    // they cost the consumers 7% of their stall samples at M = 2048). Thread (g, t4) writes
    // rows g, g + 8 and columns 8·c + 2·t4, + 1 of the tile.
    float row_scale[2], col_scale[R / 2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const unsigned i = i0 + arow + 8 * r;
      row_scale[r] = i < m ? sa[i] : 0.0f;
    }
#pragma unroll
    for (int c = 0; c < R / 2; ++c) {
      const unsigned j = j0 + 8 * (c / 2) + 2 * t4 + c % 2;
      col_scale[c] = j < n ? sw[j] : 0.0f;
    }
    wgmma_wait<0>();
    release(q0 + last);
    fold(last);
    pin(acc);
    // d[e]: row g + 8 · ((e / 2) % 2) of the warp's 16, column 8 · (e / 4) + 2 · t4 + e % 2.
#pragma unroll
    for (int e = 0; e < R; e += 2) {
      const unsigned i = i0 + arow + 8 * ((e >> 1) & 1);
      const unsigned j = j0 + 8 * (e >> 2) + 2 * t4;  // even
      if (i >= m || j >= n) continue;
      float v[2];
#pragma unroll
      for (int c = 0; c < 2; ++c) v[c] = SCALED ? out[e + c] : (float)(acc[e + c] >> 8);
      float* dst = y + (size_t)i * n + j;
      const float si = row_scale[(e >> 1) & 1], *sj = col_scale + (e >> 2) * 2;
      const float y0 = si * sj[0] * v[0];
      if (j + 1 < n && n % 2 == 0) {
        *reinterpret_cast<float2*>(dst) = make_float2(y0, si * sj[1] * v[1]);
      } else {
        dst[0] = y0;
        if (j + 1 < n) dst[1] = si * sj[1] * v[1];
      }
    }
#pragma unroll
    for (int e = 0; e < R; ++e) out[e] = 0.0f;
  }
#else
  __trap();  // compiled for sm_90a only (the host never launches it elsewhere)
#endif
}

// The entry points (the GEMMs' signature, as in `gemm.cu`: the last argument the band of
// tile columns; dynamic shared memory WG_SMEM(64 · CONS, BN)).
#define WGMMA_ENTRY(NAME, SCALED, BN, CONS, MINB)                                            \
  extern "C" __global__ void __launch_bounds__(WG_THREADS(CONS), MINB)                       \
      NAME(const u32* a, const u32* w, const float* sa, const float* sw, const float* gs,    \
           float* y, unsigned m, unsigned n, unsigned k, unsigned /* group: 128 or unused */,  \
           unsigned band) {                                                                  \
    grid_dependency();                                                                       \
    gemm_wgmma_body<SCALED, BN, CONS, MINB>(a, w, sa, sw, gs, y, m, n, k, band);             \
  }
// Without group scales 128 × 64 tiles, two blocks per SM (8192³ on the H200: 1.25 against
// 1.31 ms with 128 × 128). With them, one block per SM of three or four consumers: each
// consumer's fold sits between its wgmmas' completion and its next issue, so the more
// consumers, the more of the others' multiplies cover it. H200, N = K = 8192, three rounds
// interleaved in one command (ms; 128 × 128 with two consumers, as before → 192 × 96 →
// 256 × 64): M = 8192 1.452–1.461 → 1.330–1.342 → 1.354–1.358; M = 4096 0.730–0.734 →
// 0.710–0.714 → 0.687–0.702; M = 2048 0.371–0.374 → 0.373–0.377 → 0.350–0.351. Per block
// and step 192 × 96 does more (a wave of 132 blocks at K = 8192: about 46 µs against 42.4);
// which is faster follows the number of waves (M = 2048: 946 blocks, 8 waves, against 1024,
// 8), so the host takes the tile of the lower waves × wave time.
// Persistent blocks (the same tiles, each block walking its tiles as one sequence of steps,
// so that the producer fills the next tile's buffers while the consumers write a tile out),
// against one block a tile (H200, N = K = 8192, ms, one command): plain M = 8192 1.258 →
// 1.231, M = 2048 0.318 → 0.323; with group scales M = 8192 1.331 → 1.324, M = 2048 0.347
// → 0.346. A first build that re-derived each row's address from the tile at every step
// was 5–8% slower with group scales (1.394 / 0.376 against 1.326–1.331 / 0.348–0.353 ms):
// the producer's loop is on the critical path, so it keeps one pointer a row, set when a
// tile starts. Tried and not kept (`8ae505a`, BENCHMARKS.md): the last, partial wave of tiles
// split into parts of 32 columns run on as many more SMs (1–2.5% off M = 4096 at N = K =
// 8192, but the code for two widths cost as much there and 1.5–2% at M = 8192); A as s8 (16 ·
// code, written so by the quantize) instead of the consumers' unpacking: 5–14% slower at
// M = 2048 … 8192 (timed on a scratch A), twice A's bytes through the producer's copies;
// with group scales, the plain kernel's 128 × 64 tiles two blocks an SM (two consumers a
// block, 96 registers each, 2026-12-03): M = 2048 / 4096 / 8192 at N = K = 8192 0.355–0.358
// / 0.718–0.721 / 1.399–1.419 ms against 0.312–0.313 / 0.595–0.596 / 1.147–1.149.
// Nsight Compute at M = 2048 with group scales: the SMs' active cycles range from 538 k to
// 618 k (1024 tiles on 132 SMs: 7 or 8 each), so 3% of the time is the last wave's. With
// the producer's signal before its wait (WG_AHEAD) the kernel is near issue-bound: slots
// 60% busy, 1.96 of 4.97 warps a scheduler eligible; stall samples: not selected 27%, long
// scoreboard 17% (11% the consumers' wait for their next step, while their own wgmmas run),
// wait 14%, math pipe 14% (the fold's I2FP and the A unpack's LOP3 share the ALU pipe).
WGMMA_ENTRY(gemm_wgmma_step_wide, 2, 96, 3, 1)
WGMMA_ENTRY(gemm_wgmma_step_tall, 2, 64, 4, 1)
WGMMA_ENTRY(gemm_wgmma_plain, 0, 64, 2, 2)
