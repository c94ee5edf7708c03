// FWHT tile: 8192 elements per workgroup, 34816 bytes of padded workgroup memory.
const TILE: u32 = 8192u;
