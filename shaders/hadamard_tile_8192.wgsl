// FWHT tile: 8192 elements per workgroup of the chunk pass (512 invocations) with an
// exchange buffer of BUF elements (17408 bytes of padded workgroup memory); the cross
// passes run WG = 1024 invocations per workgroup.
const TILE: u32 = 8192u;
const WG: u32 = 1024u;
const BUF: u32 = 4096u;
