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
  grid_dependency();
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
  grid_dependency();
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

// Swap the nibble fields `m` of lo with the fields `m << s` of hi.
__device__ __forceinline__ void swap_fields(u32& hi, u32& lo, int s, u32 m) {
  const u32 t = ((hi >> s) ^ lo) & m;
  lo ^= t;
  hi ^= t << s;
}

// Transpose 8 × 8 nibbles in place: nibble c of a[r] <-> nibble r of a[c].
__device__ __forceinline__ void transpose8(u32 a[8]) {
#pragma unroll
  for (int r = 0; r < 4; ++r) swap_fields(a[r], a[r + 4], 16, 0x0000ffffu);
  swap_fields(a[0], a[2], 8, 0x00ff00ffu);
  swap_fields(a[1], a[3], 8, 0x00ff00ffu);
  swap_fields(a[4], a[6], 8, 0x00ff00ffu);
  swap_fields(a[5], a[7], 8, 0x00ff00ffu);
#pragma unroll
  for (int r = 0; r < 8; r += 2) swap_fields(a[r], a[r + 1], 4, 0x0f0f0f0fu);
}

// Rows of k <= 12288 through a transposed tile (as shaders/permute_tiles.wgsl): a block takes
// 8 rows, turns each word w of them into the 8 rows' codes of channels 8w .. 8w + 7 (one u32
// a channel, dynamic shared memory 4 · k bytes), then builds each output word of the 8 rows
// from one shared load per channel and the transpose back: 8 times fewer shared loads than
// gathering every code of every row. grid: ceil(rows / 8) blocks.
extern "C" __global__ void permute_tiles(const u32* __restrict__ in, const u32* __restrict__ perm,
                                         u32* __restrict__ out, unsigned long long rows,
                                         unsigned k) {
  grid_dependency();
  extern __shared__ uint4 cols4[];
  const u32* cols = reinterpret_cast<const u32*>(cols4);
  const unsigned long long r0 = global_block() * 8;
  if (r0 >= rows) return;
  const unsigned n = (unsigned)min(8ull, rows - r0), kw = k / 8;
  for (unsigned w = threadIdx.x; w < kw; w += blockDim.x) {
    u32 a[8];
#pragma unroll
    for (unsigned r = 0; r < 8; ++r) a[r] = r < n ? in[(r0 + r) * kw + w] : 0u;
    transpose8(a);
    cols4[2 * w] = make_uint4(a[0], a[1], a[2], a[3]);
    cols4[2 * w + 1] = make_uint4(a[4], a[5], a[6], a[7]);
  }
  __syncthreads();
  for (unsigned w = threadIdx.x; w < kw; w += blockDim.x) {
    u32 ch[8], a[8];
    word_channels(perm, w, k, ch);
#pragma unroll
    for (int c = 0; c < 8; ++c) a[c] = cols[ch[c]];
    transpose8(a);
#pragma unroll
    for (unsigned r = 0; r < 8; ++r)
      if (r < n) out[(r0 + r) * kw + w] = a[r];
  }
}
