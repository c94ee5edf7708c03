// FWHT tile: 2048 elements per workgroup of the chunk pass (128 invocations) with an
// exchange buffer of BUF elements (8704 bytes of padded workgroup memory); the cross
// passes run WG = 256 invocations per workgroup.
const TILE: u32 = 2048u;
const WG: u32 = 256u;
const BUF: u32 = 2048u;
