// GEMM tile (large): 128x128 outputs per workgroup, 8x8 per invocation, 96 nibbles per K step;
// workgroup memory 2 x 128 x 7 x 16 = 28672 bytes.
const BM: u32 = 128u;
const TM: u32 = 8u;
const KV: u32 = 6u;
