// Reorder the codes of packed rows along K: out nibble q = in nibble perm[q]. Entries of
// perm past the row (>= k) read the row's last code, as in shaders/permute.wgsl.

// The channels of output word w: perm[8w .. 8w + 8], clamped to the row (two 16-byte loads;
// k is a multiple of 8).
__device__ __forceinline__ void word_channels(const u32* __restrict__ perm, unsigned w,
                                              unsigned k, u32 ch[8]) {
  const uint4 lo = reinterpret_cast<const uint4*>(perm)[2 * w];
  const uint4 hi = reinterpret_cast<const uint4*>(perm)[2 * w + 1];
  const u32 all[8] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w};
#pragma unroll
  for (int i = 0; i < 8; ++i) ch[i] = min(all[i], k - 1);
}

// The output word of channels `ch`, gathered from `row` (device or shared memory).
__device__ __forceinline__ u32 gather_word(const u32* row, const u32 ch[8]) {
  u32 word = 0;
#pragma unroll
  for (int i = 0; i < 8; ++i) word |= ((row[ch[i] / 8] >> (4 * (ch[i] % 8))) & 0xFu) << (4 * i);
  return word;
}

// Gather from device memory, one thread per output word: for rows longer than the stage.
extern "C" __global__ void permute(const u32* __restrict__ in, const u32* __restrict__ perm,
                                   u32* __restrict__ out, unsigned long long rows, unsigned k) {
  const unsigned long long id = global_block() * blockDim.x + threadIdx.x;
  const unsigned kw = k / 8;
  if (id >= rows * kw) return;
  u32 ch[8];
  word_channels(perm, id % kw, k, ch);
  out[id] = gather_word(in + id / kw * kw, ch);
}

// A block stages `rows_per_block` consecutive rows in shared memory (dynamic, rows_per_block
// · k / 2 bytes), reading them once, coalesced, then gathers from there instead of device
// memory at random; each entry of perm (4 bytes a code) is read once for all those rows.
extern "C" __global__ void permute_staged(const u32* __restrict__ in,
                                          const u32* __restrict__ perm, u32* __restrict__ out,
                                          unsigned long long rows, unsigned k,
                                          unsigned rows_per_block) {
  extern __shared__ u32 stage[];
  const unsigned long long r0 = global_block() * rows_per_block;
  const unsigned kw = k / 8;
  if (r0 >= rows) return;
  const unsigned words = (unsigned)min((unsigned long long)rows_per_block, rows - r0) * kw;
  for (unsigned w = threadIdx.x; w < words; w += blockDim.x) stage[w] = in[r0 * kw + w];
  __syncthreads();
  for (unsigned w = threadIdx.x; w < kw; w += blockDim.x) {
    u32 ch[8];
    word_channels(perm, w, k, ch);
    for (unsigned r = 0; r < words; r += kw) out[r0 * kw + r + w] = gather_word(stage + r, ch);
  }
}
