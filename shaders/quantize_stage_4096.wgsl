// Quantize: rows of k <= 4096 are staged in workgroup memory (18432 bytes, padded).
const STAGE: u32 = 4096u;
