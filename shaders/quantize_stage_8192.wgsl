// Quantize: rows of k <= 8192 are staged in workgroup memory (36864 bytes, padded);
// 1024 invocations per row.
const STAGE: u32 = 8192u;
const WG: u32 = 1024u;
