// Quantize: rows of k <= 2048 are staged in workgroup memory (9216 bytes, padded);
// 256 invocations per row.
const STAGE: u32 = 2048u;
const WG: u32 = 256u;
