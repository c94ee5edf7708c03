// FWHT tile: 2048 elements per workgroup, 8704 bytes of padded workgroup memory.
const TILE: u32 = 2048u;
