// INT4 GEMM for decode (m ≤ 16 rows): memory bound, each packed weight byte read once.
// Same contract as `gemm.wgsl` without the gather: y[i, n] = a_scale[i] · b_scale[n] ·
// Σ_g s_g · Σ_{k in g} qa[i, k] · qb[n, k], for k a multiple of 32 and a group size that
// is a multiple of 32. The host prepends a dot snippet (`dot4x`).
//
// Each workgroup computes 8 output columns: invocations 32·c .. 32·c + 31 walk weight row
// col0 + c, lane l reading 16 bytes (32 nibbles, one group piece) at vec4 index l, l + 32, …
// so that a row is read once, coalesced. Per vec4 the 32-nibble products of every input row
// are summed exactly in i32 (nibbles expanded to 16 × value per byte, 256 × the product),
// then added as an integer (no smoothing) or as s_g · sum (smoothing). The 32 lanes'
// sums are added in a tree in workgroup memory.

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
@group(0) @binding(1) var<storage, read> qa: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> qb: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read> a_scale: array<f32>;
@group(0) @binding(4) var<storage, read> b_scale: array<f32>;
@group(0) @binding(5) var<storage, read> gscale: array<f32>;
@group(0) @binding(7) var<storage, read_write> y: array<f32>;

const MAXM: u32 = 16u;
const LANES: u32 = 32u;
const COLS: u32 = 8u;
const SMOOTH: u32 = 1u;
const MASK: u32 = 0xf0f0f0f0u;

var<workgroup> red: array<f32, 256>;

fn dot_word(a: u32, b: u32) -> i32 {
    return dot4x((a << 4u) & MASK, (b << 4u) & MASK) + dot4x(a & MASK, b & MASK);
}

// Grid: ceil(n / 8) workgroups along x.
@compute @workgroup_size(256)
fn gemv(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let c = lid / LANES;
    let l = lid % LANES;
    let col = wid.x * COLS + c;
    let kv = p.k / 32u;
    let smoothing = (p.flags & SMOOTH) != 0u;
    var acc_i: array<i32, MAXM>;
    var acc_f: array<f32, MAXM>;
    if col < p.n {
        for (var v = l; v < kv; v += LANES) {
            let w = qb[col * kv + v];
            var g = 1.0;
            if smoothing {
                g = gscale[v * 32u / p.group];
            }
            for (var i = 0u; i < MAXM; i++) {
                if i < p.m {
                    let a = qa[i * kv + v];
                    let d = (dot_word(a.x, w.x) + dot_word(a.y, w.y) + dot_word(a.z, w.z)
                        + dot_word(a.w, w.w)) >> 8u;
                    if smoothing {
                        acc_f[i] += g * f32(d);
                    } else {
                        acc_i[i] += d;
                    }
                }
            }
        }
    }
    for (var i = 0u; i < MAXM; i++) {
        if i < p.m {
            var v = acc_f[i];
            if !smoothing {
                v = f32(acc_i[i]);
            }
            red[lid] = v;
            workgroupBarrier();
            for (var s = LANES / 2u; s > 0u; s >>= 1u) {
                if l < s {
                    red[lid] += red[lid + s];
                }
                workgroupBarrier();
            }
            if l == 0u && col < p.n {
                y[i * p.n + col] = a_scale[i] * b_scale[col] * red[lid];
            }
            workgroupBarrier();
        }
    }
}
