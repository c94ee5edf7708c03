// GEMM tile (medium): 64x64 outputs per workgroup, 4x4 per invocation, 128 nibbles per K step;
// workgroup memory 2 x 64 x 9 x 16 = 18432 bytes.
const BM: u32 = 64u;
const TM: u32 = 4u;
const KV: u32 = 8u;
