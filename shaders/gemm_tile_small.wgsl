// GEMM tile (small): 64x64 outputs per workgroup, 4x4 per invocation, 64 nibbles per K step;
// workgroup memory 2 x 64 x 5 x 16 = 10240 bytes.
const BM: u32 = 64u;
const TM: u32 = 4u;
const KV: u32 = 4u;
