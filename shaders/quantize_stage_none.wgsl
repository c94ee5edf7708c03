// Quantize without staging: rows are read from device memory (twice); 256 invocations
// per row.
const STAGE: u32 = 1u;
const WG: u32 = 256u;
