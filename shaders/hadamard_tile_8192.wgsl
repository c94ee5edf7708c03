// FWHT tile: 8192 elements per workgroup of 1024 invocations, 34816 bytes of padded
// workgroup memory.
const TILE: u32 = 8192u;
const WG: u32 = 1024u;
