// Quantize: rows of k <= 2048 are staged in workgroup memory (9216 bytes, padded).
const STAGE: u32 = 2048u;
