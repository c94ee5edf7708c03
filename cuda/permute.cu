// Reorder the codes of packed rows along K: out nibble q = in nibble perm[q]. One thread per
// output word.
extern "C" __global__ void permute(const u32* __restrict__ in, const u32* __restrict__ perm,
                                   u32* __restrict__ out, unsigned long long rows, unsigned k) {
  const unsigned long long id = global_block() * blockDim.x + threadIdx.x;
  const unsigned kw = k / 8;
  if (id >= rows * kw) return;
  const unsigned long long r = id / kw;
  const unsigned w = id % kw;
  const u32* row = in + r * kw;
  u32 word = 0;
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const u32 p = perm[8 * w + i];
    word |= ((row[p / 8] >> (4 * (p % 8))) & 0xFu) << (4 * i);
  }
  out[id] = word;
}
