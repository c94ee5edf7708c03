// Quantize without staging: rows are read from device memory (twice).
const STAGE: u32 = 1u;
