// FWHT tile: 4096 elements per workgroup of 512 invocations, 17408 bytes of padded
// workgroup memory.
const TILE: u32 = 4096u;
const WG: u32 = 512u;
