// FWHT tile: 4096 elements per workgroup, 17408 bytes of padded workgroup memory.
const TILE: u32 = 4096u;
