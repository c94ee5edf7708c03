// Shared by every rrs CUDA kernel (prepended to each source before NVRTC compiles it).
// Layouts as in the WGSL kernels: row-major tensors; INT4 codes packed 8 per u32 along K,
// two's complement, the lower index in the lower nibble.
typedef unsigned int u32;

// Programmatic dependent launch (sm_90 and newer; the host launches with it there unless
// RRS_CUDA_PDL=0): a kernel may be scheduled before the one before it in the stream has
// finished, so every kernel calls this first, before it reads or writes global memory.
// `griddepcontrol.wait` returns once the kernel before it has completed and its writes are
// visible (at once where the launch was not programmatic). The kernels leave the signal to
// their dependents implicit (each block's exit): signalling at their start
// (`griddepcontrol.launch_dependents`) made the dynamic-reorder layer slower on the H200,
// where the implicit signal made it faster (BENCHMARKS.md, 2026-12-04).
__device__ __forceinline__ void grid_dependency() {
#if __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;\n" ::: "memory");
#endif
}

// The global index of a 1-D launch whose grid may be folded into x and y.
__device__ __forceinline__ unsigned long long global_block() {
  return (unsigned long long)blockIdx.x + (unsigned long long)blockIdx.y * gridDim.x;
}

// Four signed nibbles (the low 16 bits of w) as four s8 in one word.
__device__ __forceinline__ u32 nibbles_to_s8x4(u32 w) {
  u32 x = (w & 0xFu) | ((w & 0xF0u) << 4) | ((w & 0xF00u) << 8) | ((w & 0xF000u) << 12);
  // (u ^ 8) - 8 per byte sign-extends a 4-bit two's complement value.
  return __vsub4(x ^ 0x08080808u, 0x08080808u);
}

// The s4·s4 dot product of two packed words (8 codes each), exact in i32.
__device__ __forceinline__ int dot8(u32 a, u32 b) {
  int acc = __dp4a((int)nibbles_to_s8x4(a), (int)nibbles_to_s8x4(b), 0);
  return __dp4a((int)nibbles_to_s8x4(a >> 16), (int)nibbles_to_s8x4(b >> 16), acc);
}

// 16 · (nibbles 0, 2, 4, 6) and 16 · (nibbles 1, 3, 5, 7) of w as four s8 each: INT4 codes
// as s8 operands of the INT8 tensor-core GEMMs (the products are 256× the true ones).
__device__ __forceinline__ u32 even_nibbles_x16(u32 w) { return (w << 4) & 0xF0F0F0F0u; }
__device__ __forceinline__ u32 odd_nibbles_x16(u32 w) { return w & 0xF0F0F0F0u; }

// 16 bytes from global to shared memory: asynchronously on sm_80+ (`cp.async`, waited for
// by `async_wait`), through registers on sm_75.
__device__ __forceinline__ void copy16(void* dst, const void* src) {
#if __CUDA_ARCH__ >= 800
  const u32 d = (u32)__cvta_generic_to_shared(dst);
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(d), "l"(src));
#else
  *reinterpret_cast<uint4*>(dst) = *reinterpret_cast<const uint4*>(src);
#endif
}
__device__ __forceinline__ void async_commit() {
#if __CUDA_ARCH__ >= 800
  asm volatile("cp.async.commit_group;\n" ::);
#endif
}
// Wait until at most N committed groups are still in flight.
template <int N> __device__ __forceinline__ void async_wait() {
#if __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
#endif
}

// The tiled GEMMs' order of tiles (`gemm.cu`, `gemm_wgmma.cu`): tile t of a tiles_m × tiles_n
// grid in bands of `band` tile columns (the last band narrower; 0 or tiles_n and more:
// row-major), band after band and row by row within a band: its row ti and column tj.
// A wave of resident blocks then covers a compact block of tiles (few rows of A, few
// columns of W) instead of one or two whole tile rows, and the next wave goes on down the
// same band's columns of W, which the L2 still holds (measured: gemm_wgmma.cu).
__device__ __forceinline__ void banded_tile(unsigned t, unsigned tiles_m, unsigned tiles_n,
                                            unsigned band, unsigned& ti, unsigned& tj) {
  const unsigned bn = band && band < tiles_n ? band : tiles_n;
  const unsigned b = t / (bn * tiles_m), in_band = t % (bn * tiles_m);
  const unsigned width = min(bn, tiles_n - b * bn);
  ti = in_band / width, tj = b * bn + in_band % width;
}

// Barrier `id` (1 … 15; 0 is __syncthreads) among `threads` threads (whole warps) of the
// block; orders their shared-memory accesses as __syncthreads does the block's.
__device__ __forceinline__ void group_sync(unsigned id, unsigned threads) {
  asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}

// The host's launch facts (`host_defines` in src/cuda/ops.rs) arrive as RRS_HOST_* macros;
// each source checks them against its own constants with `static_assert`, so that a host
// and a kernel that drift apart fail to compile. Compile through `rrs::cuda::ptx`.
#define RRS_HOST_CHECK(cond, what) \
  static_assert(cond, what " (src/cuda/ops.rs, host_defines) differs from this kernel")
