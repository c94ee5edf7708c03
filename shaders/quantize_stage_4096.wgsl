// Quantize: rows of k <= 4096 are staged in workgroup memory (16384 bytes).
const STAGE: u32 = 4096u;
