// Reorder the K dimension of packed INT4 rows: out[row, q] = src[row, perm[q]] nibble by
// nibble, for [rows, k / 8] u32 packed as `quantize.wgsl` writes them. Dynamic reorder
// runs it on the packed weights once per call, so that the GEMM reads them in order.

struct Params {
    rows: u32,
    k: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<storage, read> perm: array<u32>;
@group(0) @binding(3) var<storage, read_write> dst: array<u32>;

// One invocation per output word; grid: 1-D over ceil(rows · k / 8 / 256), folded.
@compute @workgroup_size(256)
fn permute(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let kw = p.k / 8u;
    let idx = (wid.x + wid.y * nwg.x) * 256u + lid;
    if idx >= p.rows * kw {
        return;
    }
    let row = idx / kw;
    let q0 = (idx % kw) * 8u;
    var word = 0u;
    for (var i = 0u; i < 8u; i++) {
        let ch = perm[q0 + i];
        word |= ((src[row * kw + ch / 8u] >> (4u * (ch % 8u))) & 0xfu) << (4u * i);
    }
    dst[idx] = word;
}
