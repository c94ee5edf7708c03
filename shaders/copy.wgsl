// Device-memory copy, 16 bytes per invocation: the bandwidth reference the benches compare
// memory-bound kernels with. dst[i] = src[i] for i < n (n in vec4<u32> units).

struct Params {
    n: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read_write> dst: array<vec4<u32>>;

// Grid: 1-D over ceil(n / 256) workgroups, folded into x and y.
@compute @workgroup_size(256)
fn copy(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = (wid.x + wid.y * nwg.x) * 256u + lid;
    if i < p.n {
        dst[i] = src[i];
    }
}
