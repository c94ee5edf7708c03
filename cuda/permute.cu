// Reorder the codes of packed rows along K: out nibble q = in nibble perm[q]. Entries of
// perm past the row (>= k) read the row's last code, as in shaders/permute.wgsl.

// Output word w of a row, gathered from `row` (device or shared memory).
__device__ __forceinline__ u32 permuted_word(const u32* row, const u32* __restrict__ perm,
                                             unsigned w, unsigned k) {
  // Entries 8w .. 8w + 7: two 16-byte loads (k is a multiple of 8).
  const uint4 lo = reinterpret_cast<const uint4*>(perm)[2 * w];
  const uint4 hi = reinterpret_cast<const uint4*>(perm)[2 * w + 1];
  const u32 ch[8] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w};
  u32 word = 0;
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const u32 p = min(ch[i], k - 1);
    word |= ((row[p / 8] >> (4 * (p % 8))) & 0xFu) << (4 * i);
  }
  return word;
}

// Gather from device memory, one thread per output word: for rows longer than the stage.
extern "C" __global__ void permute(const u32* __restrict__ in, const u32* __restrict__ perm,
                                   u32* __restrict__ out, unsigned long long rows, unsigned k) {
  const unsigned long long id = global_block() * blockDim.x + threadIdx.x;
  const unsigned kw = k / 8;
  if (id >= rows * kw) return;
  out[id] = permuted_word(in + id / kw * kw, perm, id % kw, k);
}

// One block per row: the row is read once, coalesced, into shared memory (k / 2 bytes,
// dynamic), and the gather reads it there instead of device memory at random.
extern "C" __global__ void permute_staged(const u32* __restrict__ in,
                                          const u32* __restrict__ perm, u32* __restrict__ out,
                                          unsigned long long rows, unsigned k) {
  extern __shared__ u32 stage[];
  const unsigned long long r = global_block();
  const unsigned kw = k / 8;
  if (r >= rows) return;
  for (unsigned w = threadIdx.x; w < kw; w += blockDim.x) stage[w] = in[r * kw + w];
  __syncthreads();
  for (unsigned w = threadIdx.x; w < kw; w += blockDim.x)
    out[r * kw + w] = permuted_word(stage, perm, w, k);
}
