// Parameters and bindings shared by `gemm.wgsl` and `gemv.wgsl` (one host struct,
// `gemm::Params`). The kernels declare the packed operands qa (binding 1) and qb (2)
// themselves, as u32 or vec4<u32> arrays.

struct Params {
    m: u32,
    n: u32,
    k: u32,
    group: u32,
    flags: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(3) var<storage, read> a_scale: array<f32>;
@group(0) @binding(4) var<storage, read> b_scale: array<f32>;
@group(0) @binding(5) var<storage, read> gscale: array<f32>;
@group(0) @binding(7) var<storage, read_write> y: array<f32>;

const SMOOTH: u32 = 1u; // flags bit 0: multiply each group's sum by gscale[g]
const MASK: u32 = 0xf0f0f0f0u; // the high nibble of each byte
