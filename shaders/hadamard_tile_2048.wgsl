// FWHT tile: 2048 elements per workgroup of 256 invocations, 8704 bytes of padded
// workgroup memory.
const TILE: u32 = 2048u;
const WG: u32 = 256u;
