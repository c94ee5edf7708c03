// Quantize: rows of k <= 8192 are staged in workgroup memory (32768 bytes).
const STAGE: u32 = 8192u;
