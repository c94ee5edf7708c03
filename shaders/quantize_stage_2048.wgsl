// Quantize: rows of k <= 2048 are staged in workgroup memory (8192 bytes).
const STAGE: u32 = 2048u;
