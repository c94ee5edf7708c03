// FWHT tile: 4096 elements per workgroup of the chunk pass (256 invocations) with an
// exchange buffer of BUF elements (8704 bytes of padded workgroup memory); the cross
// passes run WG = 512 invocations per workgroup.
const TILE: u32 = 4096u;
const WG: u32 = 512u;
const BUF: u32 = 2048u;
