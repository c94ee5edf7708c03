// Quantize: rows of k <= 8192 are staged in workgroup memory (36864 bytes, padded).
const STAGE: u32 = 8192u;
