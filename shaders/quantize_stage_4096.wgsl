// Quantize: rows of k <= 4096 are staged in workgroup memory (18432 bytes, padded);
// 512 invocations per row.
const STAGE: u32 = 4096u;
const WG: u32 = 512u;
